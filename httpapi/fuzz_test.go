package httpapi

// Fuzz targets for the parsers that read what clients send: JSON bodies,
// OAuth parameters, forward-auth headers and the Authorization header.
// Each asserts properties, not just "no panic"; .ci/fuzz runs them briefly
// and `go test` replays the seeds and testdata/fuzz on every run.

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/gatehouse/gatehouse/apperr"
)

// clientError fails t unless err is an *apperr.Error whose code maps to a
// 4xx status and whose message is a sentence for people.
func clientError(t *testing.T, what string, err error) *apperr.Error {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %T %v is not an *apperr.Error", what, err, err)
	}
	if s := statusOf[e.Code]; s < 400 || s > 499 {
		t.Fatalf("%s: error code %q maps to status %d, want 4xx (%v)", what, e.Code, s, err)
	}
	if strings.TrimSpace(e.Message) == "" {
		t.Fatalf("%s: error %v has no message", what, err)
	}
	return e
}

// bodyTypes are the request body types handlers decode, each with a fresh
// value to decode into. The fuzzer picks one by index.
var bodyTypes = []func() any{
	func() any { return new(credentials) },
	func() any { return new(newUserJSON) },
	func() any { return new(userPatchJSON) },
	func() any { return new(passwordChangeJSON) },
	func() any { return new(rolePutJSON) },
	func() any { return new(reauthJSON) },
	func() any { return new(forgotJSON) },
	func() any { return new(resetJSON) },
}

// jsonNames lists the JSON object keys a struct type declares.
func jsonNames(typ reflect.Type) []string {
	var names []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

func decodeBody(contentType string, body []byte, dst any) error {
	r := httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return decodeJSON(httptest.NewRecorder(), r, dst)
}

// FuzzDecodeJSON feeds any Content-Type and body to decodeJSON for each
// request body type. It must not panic; every refusal must be a 4xx
// *apperr.Error; an accepted body must have a JSON media type, be valid
// JSON of at most maxBodyBytes, name only fields the type declares, and
// survive a round trip (re-encoding the decoded value and decoding it again
// gives the same value).
func FuzzDecodeJSON(f *testing.F) {
	const ct = "application/json"
	for kind := range bodyTypes {
		k := uint8(kind)
		f.Add(k, ct, []byte(`{}`))
		f.Add(k, ct, []byte(``))
		f.Add(k, ct, []byte(`null`))
		f.Add(k, ct, []byte(`[]`))
		f.Add(k, ct, []byte(`"x"`))
		f.Add(k, ct, []byte(`{"email":"ann@example.com","password":"a long passphrase","mode":"token"}`))
		f.Add(k, ct, []byte(`{"email":"a@b.c","password":"pw","roles":["admin","notes:read"]}`))
		f.Add(k, ct, []byte(`{"roles":null,"disabled":true}`))
		f.Add(k, ct, []byte(`{"current_password":"old","new_password":"new"}`))
		f.Add(k, ct, []byte(`{"permissions":[],"description":"<b>x</b>"}`))
		f.Add(k, ct, []byte(`{"token":"AAAA","new_password":"a new passphrase"}`))
		f.Add(k, ct, []byte(`{"EMAIL":"x","Password":"y","paſſword":"z"}`)) // case and Unicode folding
		f.Add(k, ct, []byte(`{"email":"a"} {"email":"b"}`))                 // two values
		f.Add(k, ct, []byte(`{"email":"a"} x`))                             // trailing junk
		f.Add(k, ct, []byte(`{"email":"a","unknown":1}`))
		f.Add(k, ct, []byte(`{"email":1}`))
		f.Add(k, ct, []byte(`{"roles":"admin"}`))
		f.Add(k, ct, []byte(`{"disabled":"true"}`))
		f.Add(k, ct, []byte("{\"email\":\"\xff\xfe\",\"password\":\"\\ud800\"}")) // invalid UTF-8, lone surrogate
		f.Add(k, ct, []byte(`{"email":"a"`))
		f.Add(k, ct, []byte(`{"permissions":[`+strings.Repeat(`"notes:read",`, 1400)+`"x"]}`)) // over 16 KiB
		f.Add(k, "application/problem+json; charset=utf-8", []byte(`{}`))
		f.Add(k, "text/plain", []byte(`{}`))
		f.Add(k, "application/json; charset", []byte(`{}`))
		f.Add(k, "", []byte(`{}`))
	}
	f.Fuzz(func(t *testing.T, kind uint8, contentType string, body []byte) {
		newT := bodyTypes[int(kind)%len(bodyTypes)]
		dst := newT()
		err := decodeBody(contentType, body, dst)
		if err != nil {
			e := clientError(t, "decodeJSON", err)
			if e.Code == apperr.TooLarge && len(body) <= maxBodyBytes {
				t.Fatalf("body of %d bytes refused as too large", len(body))
			}
			return
		}
		mt, _, perr := mime.ParseMediaType(contentType)
		if perr != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			t.Fatalf("accepted Content-Type %q", contentType)
		}
		if len(body) > maxBodyBytes {
			t.Fatalf("accepted a body of %d bytes (limit %d)", len(body), maxBodyBytes)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		// Strict fields: every top-level key must be one the type declares
		// (encoding/json matches names case-insensitively, with
		// strings.EqualFold's folding).
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) == nil {
			names := jsonNames(reflect.TypeOf(dst).Elem())
			for k := range obj {
				known := false
				for _, n := range names {
					known = known || strings.EqualFold(k, n)
				}
				if !known {
					t.Fatalf("accepted unknown field %q in %q", k, body)
				}
			}
		}
		// Round trip.
		enc, merr := json.Marshal(dst)
		if merr != nil {
			t.Fatalf("decoded value does not re-encode: %v", merr)
		}
		again := newT()
		if len(enc) <= maxBodyBytes {
			err = decodeBody("application/json", enc, again)
		} else {
			// Escaping (invalid UTF-8 becomes \ufffd) can grow a body past
			// the limit; decode it the same way without the size cap.
			dec := json.NewDecoder(bytes.NewReader(enc))
			dec.DisallowUnknownFields()
			err = dec.Decode(again)
		}
		if err != nil {
			t.Fatalf("re-encoded %s refused: %v", enc, err)
		}
		if !reflect.DeepEqual(dst, again) {
			t.Fatalf("round trip changed the value:\nbody   %q\nfirst  %#v\nsecond %#v", body, dst, again)
		}
	})
}

// forwardHeaders are the headers parseForwarded reads, in the order the
// fuzz target's arguments give them.
var forwardHeaders = []string{"X-Forwarded-Method", "X-Original-Method", "X-Forwarded-Uri", "X-Original-URI", "X-Forwarded-Host", "X-Forwarded-Proto"}

// FuzzParseForwarded fuzzes the forward-auth headers. An accepted request
// must have a valid upper-case method, a lower-case host without port,
// slash, space or "@", and a decoded path that starts with "/" and is
// already clean: no dot segments, no empty segments, no backslash, no NUL,
// and no encoded slash or backslash in the original URI. Every refusal is
// a 4xx *apperr.Error.
func FuzzParseForwarded(f *testing.F) {
	// Arguments: request method, request Host, then forwardHeaders; an
	// empty string leaves that header out.
	f.Add("GET", "notes.example.com", "GET", "", "/api/notes?x=1", "", "notes.example.com", "https")
	f.Add("GET", "notes.example.com", "", "", "", "/api/notes", "", "")                         // nginx
	f.Add("GET", "notes.example.com", "", "POST", "", "/api/notes", "", "")                     // nginx with method
	f.Add("GET", "auth", "post", "", "/a", "", "Notes.Example.COM:8443", "http")                // case, port
	f.Add("GET", "auth", "GET", "POST", "/a", "", "h", "")                                      // disagree
	f.Add("GET", "auth", "GET", "", "/a/../admin", "", "h", "")                                 // dot segment
	f.Add("GET", "auth", "GET", "", "/a/%2e%2e/admin", "", "h", "")                             // encoded dot segment
	f.Add("GET", "auth", "GET", "", "/a/%2E/admin", "", "h", "")                                // encoded dot
	f.Add("GET", "auth", "GET", "", "/admin%2fx", "", "h", "")                                  // encoded slash
	f.Add("GET", "auth", "GET", "", "/admin%5cx", "", "h", "")                                  // encoded backslash
	f.Add("GET", "auth", "GET", "", "/admin\\x", "", "h", "")                                   // backslash
	f.Add("GET", "auth", "GET", "", "//admin", "", "h", "")                                     // empty segment
	f.Add("GET", "auth", "GET", "", "/admin/.", "", "h", "")                                    // trailing dot
	f.Add("GET", "auth", "GET", "", "/adm%00in", "", "h", "")                                   // NUL
	f.Add("GET", "auth", "GET", "", "/%252e%252e/admin", "", "h", "")                           // double encoding
	f.Add("GET", "auth", "GET", "", "http://evil/admin", "", "h", "")                           // absolute URI
	f.Add("GET", "auth", "GET", "", "/a", "", "user@h", "")                                     // userinfo
	f.Add("GET", "auth", "GET", "", "/a", "", "[::1]:8080", "")                                 // IPv6
	f.Add("GET", "auth", "TRACE", "", "/a", "", "h", "")                                        // method
	f.Add("GET", "auth", "GET", "", "/a", "", "h", "ftp")                                       // proto
	f.Add("GET", "", "GET", "", "/a", "", "", "")                                               // no host
	f.Add("GET", "auth", "GET", "", "/"+strings.Repeat("a", maxForwardedURI), "", "h", "https") // long
	f.Fuzz(func(t *testing.T, method, host, fwdMethod, origMethod, fwdURI, origURI, fwdHost, fwdProto string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/authz/forward", nil)
		r.Method, r.Host = method, host
		for i, v := range []string{fwdMethod, origMethod, fwdURI, origURI, fwdHost, fwdProto} {
			if v != "" {
				r.Header[forwardHeaders[i]] = []string{v}
			}
		}
		fr, err := parseForwarded(r)
		if err != nil {
			clientError(t, "parseForwarded", err)
			return
		}
		if !validMethod(fr.Method) {
			t.Fatalf("accepted method %q", fr.Method)
		}
		if fr.Proto != "http" && fr.Proto != "https" {
			t.Fatalf("accepted proto %q", fr.Proto)
		}
		h := fr.Host
		if h == "" || h != strings.ToLower(h) || strings.ContainsAny(h, "/ @") {
			t.Fatalf("accepted host %q", h)
		}
		if !strings.HasPrefix(h, "[") && strings.Contains(h, ":") {
			t.Fatalf("host %q keeps a port", h)
		}
		p := fr.Path
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("accepted path %q", p)
		}
		if clean := path.Clean(p); clean != p && clean+"/" != p {
			t.Fatalf("accepted path %q, which cleans to %q", p, clean)
		}
		if strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("accepted path %q", p)
		}
		uri := fwdURI // the two headers, when both are sent, must agree
		if uri == "" {
			uri = origURI
		}
		// Only the path decides a rule; the query may hold anything.
		rawPath, _, _ := strings.Cut(uri, "?")
		if lower := strings.ToLower(rawPath); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
			t.Fatalf("accepted URI %q with an encoded slash or backslash in its path", uri)
		}
		if u, err := url.ParseRequestURI(uri); err != nil || u.Path != p {
			t.Fatalf("path %q is not the decoded path of %q", p, uri)
		}
	})
}

// oauthParams are the parameter names each OAuth endpoint passes to
// readParams.
var oauthParams = [][]string{
	{"grant_type", "refresh_token", "scope"}, // /v1/token
	{"token", "token_type_hint"},             // /v1/revoke, /v1/introspect
}

// FuzzReadParams fuzzes the OAuth parameter reader with any Content-Type,
// body and query. Every refusal is a 4xx *apperr.Error; accepted
// parameters are only ones the endpoint knows, form parameters are never
// repeated and never come with a URL query, and each value is what the
// body says.
func FuzzReadParams(f *testing.F) {
	const form, js = "application/x-www-form-urlencoded", "application/json"
	f.Add(uint8(0), form, "", "grant_type=refresh_token&refresh_token=ses_abc.1.xyz")
	f.Add(uint8(0), form, "", "grant_type=refresh_token&grant_type=password")
	f.Add(uint8(0), form, "refresh_token=x", "grant_type=refresh_token")
	f.Add(uint8(0), form, "", "grant_type=refresh_token&password=x")
	f.Add(uint8(0), form, "", "a=%zz")
	f.Add(uint8(0), form, "", "client_id=app&scope=")
	f.Add(uint8(0), form+"; charset=utf-8", "", "scope=a+b")
	f.Add(uint8(1), js, "", `{"token":"t","token_type_hint":"refresh_token"}`)
	f.Add(uint8(1), js, "", `{"token":1}`)
	f.Add(uint8(1), js, "", `{"token":null}`)
	f.Add(uint8(1), js, "", `{"token":"a","token":"b"}`)
	f.Add(uint8(1), js, "", `{"Token":"a"}`)
	f.Add(uint8(1), js, "token=q", `{"token":"t"}`)
	f.Add(uint8(1), js, "", `null`)
	f.Add(uint8(1), "multipart/form-data; boundary=x", "", "--x--")
	f.Add(uint8(1), "", "", "token=t")
	f.Add(uint8(1), form, "", "token="+strings.Repeat("a", maxBodyBytes))
	f.Fuzz(func(t *testing.T, endpoint uint8, contentType, query, body string) {
		names := oauthParams[int(endpoint)%len(oauthParams)]
		r := httptest.NewRequest(http.MethodPost, "/v1/token", strings.NewReader(body))
		r.URL.RawQuery = query
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		p, err := readParams(httptest.NewRecorder(), r, names...)
		if err != nil {
			clientError(t, "readParams", err)
			return
		}
		known := map[string]bool{"client_id": true}
		for _, n := range names {
			known[n] = true
		}
		for k := range p {
			if !known[k] {
				t.Fatalf("accepted unknown parameter %q", k)
			}
		}
		mt, _, _ := mime.ParseMediaType(contentType)
		switch mt {
		case "application/x-www-form-urlencoded":
			if query != "" {
				t.Fatalf("accepted form parameters with a URL query %q", query)
			}
			vals, err := url.ParseQuery(body)
			if err != nil {
				t.Fatalf("accepted form body %q that does not parse: %v", body, err)
			}
			if len(vals) != len(p) {
				t.Fatalf("body %q has %d parameters, got %d", body, len(vals), len(p))
			}
			for k, vs := range vals {
				if len(vs) != 1 || p[k] != vs[0] {
					t.Fatalf("parameter %q: body says %q, got %q", k, vs, p[k])
				}
			}
		case "application/json":
			var m map[string]string
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("accepted JSON body %q that does not decode: %v", body, err)
			}
			if len(m) != len(p) {
				t.Fatalf("body %q has %d parameters, got %d", body, len(m), len(p))
			}
			for k, v := range m {
				if p[k] != v {
					t.Fatalf("parameter %q: body says %q, got %q", k, v, p[k])
				}
			}
		default:
			t.Fatalf("accepted Content-Type %q", contentType)
		}
	})
}

// b64token reports whether c may appear in an RFC 6750 b64token.
func b64token(c rune) bool {
	return c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("-._~+/=", c))
}

// FuzzBearerToken fuzzes the Authorization header parser. An accepted
// header starts with the Bearer scheme (any case) and a space; the token
// is non-empty, holds no space or tab, appears in the header as given,
// and reads back the same from the canonical "Bearer <token>". And the
// parser is complete: any non-empty b64token in a canonical header is
// accepted as itself.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{
		"Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
		"bearer abc", "BEARER abc", "Bearer  abc ", "Bearer", "Bearer ", "Bearer a b", "Bearer a\tb",
		"Basic dXNlcjpwYXNz", "Bearerabc", " Bearer abc", "Bearer\tabc", "Bearer a\nb", "Bearer \u00a0abc\u00a0",
		"Bearer a\u2028b", "Bearer abc==", "Bearer a\x00b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearerToken(h)
		if ok {
			if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
				t.Fatalf("accepted %q without the Bearer scheme", h)
			}
			if tok == "" || strings.ContainsAny(tok, " \t") || tok != strings.TrimSpace(tok) {
				t.Fatalf("%q: token %q is empty or holds white space", h, tok)
			}
			if !strings.Contains(h, tok) {
				t.Fatalf("%q: token %q is not in the header", h, tok)
			}
			if again, ok := bearerToken("Bearer " + tok); !ok || again != tok {
				t.Fatalf("%q: canonical form of token %q reads back as %q, %v", h, tok, again, ok)
			}
		}
		// Completeness: the b64token characters of h, as a canonical header.
		clean := strings.Map(func(c rune) rune {
			if b64token(c) {
				return c
			}
			return -1
		}, h)
		if clean != "" {
			if got, ok := bearerToken("Bearer " + clean); !ok || got != clean {
				t.Fatalf("canonical header with token %q gave %q, %v", clean, got, ok)
			}
		}
	})
}
