"""A real IMAP server for the tests: Debian's Dovecot, run as the test's own process on a
free loopback port with a throw-away configuration (nothing in /etc is read or changed)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess  # nosec B404: a fixed argument list, no shell
import tempfile
import time
from dataclasses import dataclass

DOVECOT = "/usr/sbin/dovecot"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@dataclass
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    process: subprocess.Popen
    root: str

    def log(self) -> str:
        try:
            with open(os.path.join(self.root, "dovecot.log"), encoding="utf-8") as log:
                return log.read()
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable() -> str | None:
    """Why Dovecot cannot be run here, or None."""
    if not os.path.exists(DOVECOT):
        return "Dovecot is not installed (make imap installs Debian's dovecot-imapd)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
        except KeyError:
            return "the dovecot and dovenull users are missing (a broken dovecot install)"
    return None


def start(password: str) -> ImapServer:
    """Start Dovecot for one mailbox user ("inbox"); the caller stops it with stop()."""
    root = tempfile.mkdtemp(prefix="screenings-imap-")
    os.chmod(root, 0o711)  # noqa: S103 Dovecot's unprivileged processes pass through, read nothing
    if os.geteuid() == 0:  # Dovecot refuses root for its login and mail processes
        users = {"internal_user": "dovecot", "login_user": "dovenull", "mail_user": "dovecot"}
        users["internal_group"] = users["mail_group"] = "dovecot"
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        users = {"internal_user": me, "login_user": me, "mail_user": me}
        users["internal_group"] = users["mail_group"] = group
    mail = os.path.join(root, "mail")
    os.mkdir(mail)
    if os.geteuid() == 0:
        shutil.chown(mail, "dovecot", "dovecot")
    with open(os.path.join(root, "passwd"), "w", encoding="utf-8") as passwd:
        passwd.write(f"inbox:{{PLAIN}}{password}\n")
    port = _free_port()
    config = os.path.join(root, "dovecot.conf")
    with open(config, "w", encoding="utf-8") as out:
        out.write(CONFIG.format(root=root, port=port, **users))
    process = subprocess.Popen(  # nosec B603: a fixed argument list, no shell
        [DOVECOT, "-F", "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    server = ImapServer("127.0.0.1", port, "inbox", password, process, root)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            stop(server)
            raise RuntimeError(f"dovecot exited: {error.strip()} {server.log()}")
        try:
            with socket.create_connection((server.host, port), timeout=0.5) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"dovecot did not answer on port {port}: {server.log()}")


def stop(server: ImapServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    if server.process.stderr:
        server.process.stderr.close()
    shutil.rmtree(server.root, ignore_errors=True)
