/* A strict reader for the tests: libical (the C library behind Evolution and many CalDAV
 * servers) parses an iCalendar object from stdin and reports what it objects to.
 *
 *   icalcheck check   < file.ics   one line per problem ("ERROR <text>"), then one line per
 *                                   VEVENT: "EVENT <uid> <dtstart epoch> <dtend epoch>", with
 *                                   times resolved through the object's own VTIMEZONEs.
 *   icalcheck offsets TZID < input  input: a VCALENDAR holding the VTIMEZONE, a line "--", then
 *                                   one UTC epoch a line; prints the UTC offset in seconds the
 *                                   VTIMEZONE gives at each instant.
 * Problems are libical's X-LIC-ERROR properties: parse errors, and iTIP restriction errors from
 * icalrestriction_check (RFC 5546's table for the object's METHOD).
 */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(FILE *in) {
    size_t size = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + size, 1, cap - size - 1, in)) > 0) {
        size += n;
        if (cap - size < 2) buf = realloc(buf, cap *= 2);
    }
    buf[size] = 0;
    return buf;
}

static int report_errors(icalcomponent *comp) {
    int errors = 0;
    for (icalproperty *p = icalcomponent_get_first_property(comp, ICAL_XLICERROR_PROPERTY); p;
         p = icalcomponent_get_next_property(comp, ICAL_XLICERROR_PROPERTY)) {
        printf("ERROR %s: %s\n", icalcomponent_kind_to_string(icalcomponent_isa(comp)),
               icalproperty_get_xlicerror(p));
        errors++;
    }
    for (icalcomponent *c = icalcomponent_get_first_component(comp, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(comp, ICAL_ANY_COMPONENT))
        errors += report_errors(c);
    return errors;
}

static long long epoch(struct icaltimetype t) {
    const icaltimezone *zone = t.zone ? t.zone : icaltimezone_get_utc_timezone();
    return (long long)icaltime_as_timet_with_zone(t, zone);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char *text = read_all(stdin);
    char *rest = NULL;
    if (strcmp(argv[1], "offsets") == 0) {
        rest = strstr(text, "\n--");
        if (!rest) return 2;
        *rest = 0;
        rest += 3;
    }
    icalcomponent *root = icalparser_parse_string(text);
    if (!root) {
        printf("ERROR unparsable\n");
        return 1;
    }
    if (strcmp(argv[1], "check") == 0) {
        icalrestriction_check(root);
        int errors = report_errors(root);
        for (icalcomponent *e = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT); e;
             e = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
            const char *uid = icalcomponent_get_uid(e);
            printf("EVENT %s %lld %lld\n", uid ? uid : "-", epoch(icalcomponent_get_dtstart(e)),
                   epoch(icalcomponent_get_dtend(e)));
        }
        return errors ? 1 : 0;
    }
    if (strcmp(argv[1], "offsets") == 0 && argc == 3) {
        icalcomponent *vtz = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT);
        if (!vtz) return 2;
        icaltimezone *zone = icaltimezone_new();
        icaltimezone_set_component(zone, icalcomponent_new_clone(vtz));
        if (strcmp(icaltimezone_get_tzid(zone), argv[2]) != 0) return 2;
        char *line = strtok(rest, "\n");
        while (line) {
            long long when = atoll(line);
            struct icaltimetype t =
                icaltime_from_timet_with_zone((time_t)when, 0, icaltimezone_get_utc_timezone());
            printf("%d\n", icaltimezone_get_utc_offset_of_utc_time(zone, &t, NULL));
            line = strtok(NULL, "\n");
        }
        return 0;
    }
    return 2;
}
