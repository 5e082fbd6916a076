"""Checks of the normaliser (compare.py --self-test): what it hides, and what it must not."""
import time

from normalise import Normaliser, Window

KNOWN = b"6816f79cc0a8016401c5a33be04be441"
FRESH = [b"%032x" % (0xabc000 + i) for i in range(6)]
TOKENS = [bytes([65 + i]) * 86 for i in range(4)]


def pair(start=None):
    w = Window(start if start is not None else int(time.time()) - 5, offsets=(0, 3600, -18000))
    return Normaliser({KNOWN}, w), Normaliser({KNOWN}, w)


def resp(body, headers=(), status="HTTP/1.1 200 OK"):
    return {"status_line": status, "headers": list(headers), "body": body}


def now_text(offset=0):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + offset)).encode()


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def fresh_ids_in_the_same_places_are_equal():
    a, b = pair()
    ra = resp(b'{"sys_id":"%s","parent":"%s"}' % (FRESH[0], KNOWN), [("Location", "/x/" + FRESH[0].decode())])
    rb = resp(b'{"sys_id":"%s","parent":"%s"}' % (FRESH[1], KNOWN), [("Location", "/x/" + FRESH[1].decode())])
    return a.response(ra) == b.response(rb)


@check
def a_fresh_id_keeps_its_placeholder_across_responses():
    a, b = pair()
    a.response(resp(b'"%s"' % FRESH[0]))
    b.response(resp(b'"%s"' % FRESH[1]))
    return a.response(resp(b'"%s"' % FRESH[0])) == b.response(resp(b'"%s"' % FRESH[1]))


@check
def the_same_record_twice_is_not_two_records():
    a, b = pair()
    ra = resp(b'{"a":"%s","b":"%s","c":"%s"}' % (FRESH[0], FRESH[1], FRESH[0]))
    rb = resp(b'{"a":"%s","b":"%s","c":"%s"}' % (FRESH[2], FRESH[3], FRESH[3]))
    return a.response(ra) != b.response(rb)


@check
def a_known_id_is_compared_as_it_is():
    a, b = pair()
    same = a.response(resp(b'"%s"' % KNOWN)) == b.response(resp(b'"%s"' % KNOWN))
    a, b = pair()
    return same and a.response(resp(b'"%s"' % KNOWN)) != b.response(resp(b'"%s"' % FRESH[0]))


@check
def fresh_ids_in_another_order_differ():
    a, b = pair()
    a.response(resp(b'"%s"' % FRESH[0]))
    a.response(resp(b'"%s"' % FRESH[1]))
    b.response(resp(b'"%s"' % FRESH[2]))
    b.response(resp(b'"%s"' % FRESH[3]))
    return a.response(resp(b'"%s"' % FRESH[1])) != b.response(resp(b'"%s"' % FRESH[2]))


@check
def issued_tokens_are_hidden_others_are_not():
    a, b = pair()
    a.register_tokens(b'{"access_token":"%s","refresh_token":"%s"}' % (TOKENS[0], TOKENS[1]))
    b.register_tokens(b'{"access_token":"%s","refresh_token":"%s"}' % (TOKENS[2], TOKENS[3]))
    issued = a.response(resp(b'"%s %s"' % (TOKENS[0], TOKENS[1]))) == \
        b.response(resp(b'"%s %s"' % (TOKENS[2], TOKENS[3])))
    swapped = a.response(resp(b'"%s"' % TOKENS[0])) != b.response(resp(b'"%s"' % TOKENS[3]))
    c, d = pair()
    unissued = c.response(resp(b'"%s"' % TOKENS[0])) != d.response(resp(b'"%s"' % TOKENS[1]))
    return issued and swapped and unissued


@check
def times_of_the_run_are_hidden_in_every_user_zone():
    a, b = pair()
    ra = resp(b'{"t":"%s","u":"%s","v":"%s"}' % (now_text(), now_text(3600), now_text(-18000)))
    rb = resp(b'{"t":"%s","u":"%s","v":"%s"}' % (now_text(1), now_text(3601), now_text(-17999)))
    return a.response(ra) == b.response(rb) and b"<NOW>" in a.response(ra)["body"]


@check
def times_before_the_run_are_compared():
    a, b = pair()
    old1, old2 = now_text(-86400), now_text(-86399)
    return a.response(resp(b'"%s"' % old1)) != b.response(resp(b'"%s"' % old2)) and \
        a.response(resp(b'"%s"' % old1)) == b.response(resp(b'"%s"' % old1))


@check
def a_fresh_time_where_none_was_differs():
    a, b = pair()
    return a.response(resp(b'"%s"' % now_text())) != b.response(resp(b'""'))


@check
def date_is_ignored_but_kept_in_place():
    a, b = pair()
    ha = [("Date", "Mon, 01 Jan 2026 00:00:00 GMT"), ("X-A", "1")]
    hb = [("Date", "Tue, 02 Jan 2026 00:00:01 GMT"), ("X-A", "1")]
    hc = [("X-A", "1"), ("Date", "Tue, 02 Jan 2026 00:00:01 GMT")]
    return a.response(resp(b"", ha)) == b.response(resp(b"", hb)) and \
        a.response(resp(b"", ha)) != b.response(resp(b"", hc))


@check
def header_order_value_and_status_count():
    a, b = pair()
    base = a.response(resp(b"x", [("A", "1"), ("B", "2")]))
    return base != b.response(resp(b"x", [("B", "2"), ("A", "1")])) and \
        base != b.response(resp(b"x", [("A", "1"), ("B", "3")])) and \
        base != b.response(resp(b"x", [("A", "1"), ("B", "2")], "HTTP/1.1 201 Created")) and \
        base != b.response(resp(b"x ", [("A", "1"), ("B", "2")]))


@check
def bytes_outside_placeholders_are_exact():
    a, b = pair()
    return a.response(resp(b'{"a":"\xc3\xa9"}')) != b.response(resp(b'{"a":"\\u00e9"}'))


def main():
    failed = 0
    for fn in CHECKS:
        ok = fn()
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {fn.__name__}")
    print(f"compat self-test: {len(CHECKS)} checks, {failed} failed")
    return 1 if failed else 0
