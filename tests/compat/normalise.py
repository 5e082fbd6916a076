"""What may differ between two runs of the same request, and nothing else.

One Normaliser per side.  It replaces, in a response's status line, header values and body:

- a sys_id the instance generated during the run (32 lowercase hex digits that were not in the
  data directory when the run began) by <ID1>, <ID2>... in order of first appearance on that
  side, so the same record keeps the same placeholder and two different records never share one;
- an OAuth token the token endpoint issued on that side by <TOKEN1>, <TOKEN2>... the same way;
- a date-time that falls inside the run (in UTC or in one of the time zones the users see) by
  <NOW>: writes on the two sides land in the same second or in neighbouring ones, so the value
  itself is not comparable, but where a fresh time appears still is.

The Date header's value is replaced by <DATE>; the header itself stays in place.
Everything else is compared byte for byte.
"""
import datetime
import json
import re
import time

ID_RE = re.compile(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
TOKEN_RE = re.compile(rb"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{86}(?![A-Za-z0-9_-])")
TIME_RE = re.compile(rb"(?<![0-9])(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?![0-9])")


def known_ids_in(text):
    """Every 32-hex id in a str or bytes (for the set of ids that existed before the run)."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    return set(ID_RE.findall(text))


class Window:
    """The run's time span in UTC seconds, seen through a set of UTC offsets (in seconds)."""

    def __init__(self, start, offsets=(0,), slack=2):
        self.start = int(start)
        self.end = None  # open: "up to now"
        self.offsets = sorted(set(offsets))
        self.slack = slack

    def close(self, end):
        self.end = int(end)

    def contains(self, naive):
        """Whether a naive date-time (as an instance renders it) lies in the run."""
        end = (self.end if self.end is not None else time.time()) + self.slack
        base = naive.replace(tzinfo=datetime.timezone.utc).timestamp()
        return any(self.start <= base - off <= end for off in self.offsets)


class Normaliser:
    def __init__(self, known_ids, window):
        self.known = set(known_ids)
        self.window = window
        self.ids = {}
        self.tokens = {}

    def register_tokens(self, body):
        """Records the tokens an /oauth_token.do answer hands out, in the order it lists them."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(doc, dict):
            return
        for key in ("access_token", "refresh_token"):
            v = doc.get(key)
            if isinstance(v, str):
                self._token(v.encode())

    def _token(self, raw):
        if raw not in self.tokens:
            self.tokens[raw] = b"<TOKEN%d>" % (len(self.tokens) + 1)
        return self.tokens[raw]

    def _id(self, m):
        raw = m.group(0)
        if raw in self.known:
            return raw
        if raw not in self.ids:
            self.ids[raw] = b"<ID%d>" % (len(self.ids) + 1)
        return self.ids[raw]

    def _time(self, m):
        try:
            t = datetime.datetime(*(int(g) for g in m.groups()))
        except ValueError:
            return m.group(0)
        return b"<NOW>" if self.window.contains(t) else m.group(0)

    def _tok(self, m):
        raw = m.group(0)
        return self.tokens.get(raw, raw)

    def text(self, data):
        """The normalised form of bytes."""
        data = TOKEN_RE.sub(self._tok, data)
        data = ID_RE.sub(self._id, data)
        return TIME_RE.sub(self._time, data)

    def response(self, resp):
        """A response dict (status_line, headers [(name, value)], body) in normalised form."""
        headers = []
        for name, value in resp["headers"]:
            if name.lower() == "date":
                headers.append((name, "<DATE>"))
            else:
                v = self.text(value.encode("latin-1"))
                headers.append((name, v.decode("latin-1")))
        return {
            "status_line": self.text(resp["status_line"].encode("latin-1")).decode("latin-1"),
            "headers": headers,
            "body": self.text(resp["body"]),
        }
