"""Checks AWS Signature Version 4 on requests to the test S3 server.

s3rver 3.7.1 does not check V4 signatures: its authentication middleware
accepts any request whose access key id it knows ("Signature version 4
calculation is unimplemented"), and any request with no Authorization header
at all. The front in s3server.py therefore checks each request here first,
the way S3 does, so that a wrong secret key or a client that signs the wrong
canonical request fails as it would against AWS:

  no Authorization header         403 AccessDenied
  unknown access key id           403 InvalidAccessKeyId
  x-amz-date more than 15 min off 403 RequestTimeTooSkewed
  an x-amz-* header not signed    403 AccessDenied
  wrong signature                 403 SignatureDoesNotMatch
  body hash != x-amz-content-sha256 (when it is a hash)  400 XAmzContentSHA256Mismatch

The canonical request is built from the decoded path and query, re-encoded
with RFC 3986's unreserved set, so a client that sends a character unencoded
but signs it encoded (or the reverse) fails too. This is a verifier for
tests, written from the AWS documentation; the C client never signs by hand
(libcurl's CURLOPT_AWS_SIGV4 does).
"""
import calendar
import hashlib
import hmac
import re
import time
import urllib.parse

SKEW_MAX_S = 15 * 60
AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/"
                     r"aws4_request,\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def uri_encode(text, keep_slash=False):
    return urllib.parse.quote(text, safe="-_.~" + ("/" if keep_slash else ""))


def canonical_uri(path):
    return "/".join(uri_encode(urllib.parse.unquote(seg)) for seg in path.split("/")) or "/"


def canonical_query(query):
    pairs = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(name)),
                      uri_encode(urllib.parse.unquote(value))))
    return "&".join("%s=%s" % p for p in sorted(pairs))


def hmac256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def check(method, target, headers, body, credentials, now=None):
    """None when the request is signed right, else (status, code, message).
    headers: an email.message.Message (http.server's) or a dict of lists
    keyed by lower-case name; credentials: {access key id: secret}."""
    get_all = headers.get_all if hasattr(headers, "get_all") else \
        (lambda name, default=None: headers.get(name.lower(), default))
    auth = (get_all("authorization") or [None])[0]
    if not auth:
        return 403, "AccessDenied", "Anonymous access is forbidden for this operation"
    m = AUTH_RE.match(auth.strip())
    if not m:
        return 400, "AuthorizationHeaderMalformed", "The authorization header is malformed"
    key_id, day, region, service, signed, signature = m.groups()
    if key_id not in credentials:
        return (403, "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.")
    claimed = (get_all("x-amz-content-sha256") or [None])[0]
    amz_date = (get_all("x-amz-date") or [None])[0]
    if not claimed:
        return 400, "InvalidRequest", "Missing required header: x-amz-content-sha256"
    if not amz_date or not re.match(r"^\d{8}T\d{6}Z$", amz_date) or amz_date[:8] != day:
        return 403, "AccessDenied", "AWS authentication requires a valid x-amz-date"
    when = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    if abs((now or time.time()) - when) > SKEW_MAX_S:
        return 403, "RequestTimeTooSkewed", "The difference between the request time and " \
            "the current time is too large."
    names = signed.split(";")
    present = {k.lower() for k in (headers.keys() if hasattr(headers, "keys") else headers)}
    unsigned = [n for n in present if n.startswith("x-amz-") and n not in names]
    if "host" not in names or unsigned:
        return 403, "AccessDenied", "There were headers present in the request which were " \
            "not signed: %s" % ", ".join(sorted(unsigned) or ["host"])
    canonical_headers = "".join(
        "%s:%s\n" % (n, ",".join(" ".join(v.split()) for v in (get_all(n) or [])))
        for n in names)
    path, _, query = target.partition("?")
    request = "\n".join([method, canonical_uri(path), canonical_query(query), canonical_headers,
                         signed, claimed])
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(request.encode()).hexdigest()])
    k = hmac256(("AWS4" + credentials[key_id]).encode(), day)
    for part in (region, service, "aws4_request"):
        k = hmac256(k, part)
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return 403, "SignatureDoesNotMatch", "The request signature we calculated does not " \
            "match the signature you provided. Check your key and signing method."
    if re.match(r"^[0-9a-f]{64}$", claimed) and hashlib.sha256(body).hexdigest() != claimed:
        return 400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header " \
            "does not match what was computed."
    return None
