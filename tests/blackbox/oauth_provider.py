"""A stand-in OAuth provider (Python's http.server in a thread) for the outbound OAuth tests:
the black-box suite's (test_oauth_outbound.py, test_oauth_get_token_api.py) and the browser
suite's. It imports no conftest, so either suite can load it."""
import base64
import hashlib
import http.server
import json
import secrets
import threading
import urllib.parse

CLIENT_SECRET = "Provider-secret-" + secrets.token_hex(8)
OWNER_PASSWORD = "Owner-pass-" + secrets.token_hex(6)


class Provider:
    """A stand-in OAuth provider: token endpoint (client_credentials, password,
    authorization_code with PKCE, refresh_token), authorize endpoint, an API checking bearers."""

    def __init__(self, send="body", content_type="application/json;charset=UTF-8"):
        self.send = send  # how the client must authenticate: "body" or "basic"
        self.content_type = content_type
        self.client_id = "cid-" + secrets.token_hex(4)
        self.expires_in = 3600
        self.lock = threading.Lock()
        self.grants = []  # grant_type of every token request
        self.access, self.refresh, self.codes = {}, set(), {}
        self.issued = []  # every token issued (to look for them where they must not be)
        self.answer = None  # (status, content type, body) to give instead, once set
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body, ctype="application/json", headers=()):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/authorize":
                    assert q["response_type"] == "code" and q["client_id"] == provider.client_id
                    code = secrets.token_urlsafe(16)
                    with provider.lock:
                        provider.codes[code] = q
                    back = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
                    self.reply(302, "", "text/plain", [("Location", back)])
                elif url.path == "/api/whoami":
                    bearer = self.headers.get("Authorization", "")[7:]
                    ok = provider.access.get(bearer, 0) > 0
                    self.reply(200 if ok else 401, json.dumps({"ok": ok}))
                else:
                    self.reply(404, "{}")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = dict(urllib.parse.parse_qsl(body))
                with provider.lock:
                    provider.grants.append(form.get("grant_type"))
                    if provider.answer:
                        self.reply(provider.answer[0], provider.answer[2], provider.answer[1])
                        return
                    auth = self.headers.get("Authorization", "")
                    if provider.send == "basic":
                        want = "Basic " + base64.b64encode(f"{provider.client_id}:{CLIENT_SECRET}".encode()).decode()
                        client_ok = auth == want and "client_secret" not in form
                    else:
                        client_ok = (form.get("client_id") == provider.client_id
                                     and form.get("client_secret") == CLIENT_SECRET and not auth)
                    if not client_ok:
                        self.reply(401, json.dumps({"error": "invalid_client",
                                                    "error_description": "Client authentication failed"}))
                        return
                    g, refresh = form.get("grant_type"), False
                    if g == "client_credentials":
                        pass
                    elif g == "password":
                        if form.get("username") != "owner" or form.get("password") != OWNER_PASSWORD:
                            self.reply(400, json.dumps({"error": "invalid_grant",
                                                        "error_description": "Bad resource owner credentials"}))
                            return
                        refresh = True
                    elif g == "authorization_code":
                        req = provider.codes.pop(form.get("code", ""), None)
                        verifier = form.get("code_verifier", "")
                        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                        if (not req or req.get("redirect_uri") != form.get("redirect_uri")
                                or req.get("code_challenge_method") != "S256" or req.get("code_challenge") != challenge):
                            self.reply(400, json.dumps({"error": "invalid_grant"}))
                            return
                        refresh = True
                    elif g == "refresh_token":
                        if form.get("refresh_token") not in provider.refresh:
                            self.reply(400, json.dumps({"error": "invalid_grant"}))
                            return
                    else:
                        self.reply(400, json.dumps({"error": "unsupported_grant_type"}))
                        return
                    token = "AT-" + secrets.token_hex(16)
                    provider.access[token] = 1
                    provider.issued.append(token)
                    out = {"access_token": token, "token_type": "Bearer", "expires_in": provider.expires_in,
                           "scope": form.get("scope", "")}
                    if refresh:
                        rt = "RT-" + secrets.token_hex(16)
                        provider.refresh.add(rt)
                        provider.issued.append(rt)
                        out["refresh_token"] = rt
                self.reply(200, json.dumps(out), provider.content_type)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def expire_all(self):
        with self.lock:
            for t in self.access:
                self.access[t] = 0

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
