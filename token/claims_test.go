package token

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestClaimsJSON(t *testing.T) {
	got := mustPayload(t, testClaims())
	want := `{"iss":"https://auth.example.com","sub":"usr_7k2mq4xw9p3n5r8t1v6y0zbcdf",` +
		`"aud":"https://api.example.com","exp":1750000900,"nbf":1749999940,"iat":1749999940,` +
		`"auth_time":1749992800,"jti":"Jx8fQ2pLr5Tz0vWb3nYc7A","sid":"ses_h3j5k7m9p2r4t6v8x0z1b3d5f7",` +
		`"scope":"openid profile email offline_access","roles":["admin","billing-editor","support-viewer"]}`
	if got != want {
		t.Errorf("payload:\n got %s\nwant %s", got, want)
	}

	c := Claims{Audience: []string{"a", "b"}, ExpiresAt: time.Unix(5, 0)}
	if got := mustPayload(t, c); got != `{"aud":["a","b"],"exp":5}` {
		t.Errorf("two audiences: %s", got)
	}
	if got := mustPayload(t, Claims{}); got != `{}` {
		t.Errorf("empty claims: %s", got)
	}
	if _, err := (Claims{Subject: "\xff"}).MarshalJSON(); err == nil {
		t.Error("MarshalJSON accepted invalid UTF-8")
	}
	if _, err := (Claims{ExpiresAt: time.Unix(-5, 0)}).MarshalJSON(); err == nil {
		t.Error("MarshalJSON accepted a date before 1970")
	}

	var back Claims
	if err := json.Unmarshal([]byte(want), &back); err != nil || !reflect.DeepEqual(back, testClaims()) {
		t.Errorf("UnmarshalJSON = %+v, %v", back, err)
	}
	// Claims embedded in another document (introspection, logs).
	doc, err := json.Marshal(map[string]any{"claims": testClaims()})
	if err != nil || !strings.Contains(string(doc), `"sid":"ses_`) {
		t.Errorf("json.Marshal = %s, %v", doc, err)
	}
}

func TestJSONStringEscaping(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "new\nline\r\t", "\x00\x01\x1f\x7f", "ünïcödé ✓ 🔑", "\u2028\u2029", "</script>"} {
		enc := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil || back != s {
			t.Errorf("%q encodes as %s, decodes to %q, %v", s, enc, back, err)
		}
	}
}

func TestFastPathTakesIssuedClaims(t *testing.T) {
	// The hot path must handle everything Issue writes, in every variant.
	variants := []Claims{testClaims(), {}, {Audience: []string{"a", "b", "c"}, Roles: []string{"r"}}}
	many := testClaims()
	for i := range 20 {
		many.Roles = append(many.Roles, strings.Repeat("r", i))
	}
	variants = append(variants, many)
	for _, c := range variants {
		p := mustPayload(t, c)
		var got Claims
		if !parseClaimsFast(p, &got) {
			t.Errorf("fast path refused %s", p)
			continue
		}
		want, err := parseClaimsSlow(p)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("fast %+v, slow %+v, %v", got, want, err)
		}
	}
}

func TestParseClaims(t *testing.T) {
	ok := func(in string, want Claims) {
		t.Helper()
		got, err := parseClaims(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseClaims(%s) = %+v, %v\nwant %+v", in, got, err, want)
		}
	}
	ok(`{}`, Claims{})
	ok(" {\n\t\"sub\" : \"a\" ,\r\"exp\":0 } ", Claims{Subject: "a", ExpiresAt: time.Unix(0, 0).UTC()})
	ok(`{"sub":"a\"b\u00e9\ud83d\udd11"}`, Claims{Subject: "a\"bé🔑"})
	ok(`{"\u0073ub":"a"}`, Claims{Subject: "a"})
	ok(`{"sub":"x","other":{"nested":[1,2,{"a":null}]},"n":1.5e3}`, Claims{Subject: "x"})
	ok(`{"aud":[],"roles":[]}`, Claims{})
	ok(`{"aud":"a","roles":["x","y"]}`, Claims{Audience: []string{"a"}, Roles: []string{"x", "y"}})
	ok("{\"sub\":\"a\xffb\"}", Claims{Subject: "a\uFFFDb"}) // as encoding/json
	ok(`{"exp":253402300799}`, Claims{ExpiresAt: time.Unix(maxNumericDate, 0).UTC()})

	bad := func(in string, want error) {
		t.Helper()
		_, err := parseClaims(in)
		wantErr(t, err, want)
	}
	bad(``, ErrMalformed)
	bad(`null`, ErrMalformed)
	bad(`[]`, ErrMalformed)
	bad(`"sub"`, ErrMalformed)
	bad(`{"sub":"a"`, ErrMalformed)
	bad(`{"sub":"a",}`, ErrMalformed)
	bad(`{"sub":"a"}x`, ErrMalformed)
	bad(`{"exp":012}`, ErrMalformed)
	bad(`{"sub":"a\u00"}`, ErrMalformed)
	bad(`{"sub":null}`, ErrClaims)
	bad(`{"sub":1}`, ErrClaims)
	bad(`{"aud":1}`, ErrClaims)
	bad(`{"aud":["a",1]}`, ErrClaims)
	bad(`{"aud":null}`, ErrClaims)
	bad(`{"roles":"admin"}`, ErrClaims)
	bad(`{"roles":[null]}`, ErrClaims)
	bad(`{"exp":"1"}`, ErrClaims)
	bad(`{"exp":1.0}`, ErrClaims)
	bad(`{"exp":1e9}`, ErrClaims)
	bad(`{"exp":-1}`, ErrClaims)
	bad(`{"exp":253402300800}`, ErrClaims)
	bad(`{"exp":null}`, ErrClaims)
	bad(`{"iat":true}`, ErrClaims)
	// RFC 8725 3.5 spirit: no member may mean two things to two parsers.
	bad(`{"sub":"a","sub":"b"}`, ErrClaims)
	bad(`{"sub":"a","Sub":"b"}`, ErrClaims)
	bad(`{"SUB":"a"}`, ErrClaims)
	bad(`{"exp":1,"iat":2,"exp":3}`, ErrClaims)
	bad(`{"x":1,"x":2}`, ErrClaims)
}

// FuzzClaims checks the fast decoder against the authoritative slow one:
// whatever the fast path accepts, the slow path decodes to the same value.
// And whatever the encoder writes, both read back unchanged.
func FuzzClaims(f *testing.F) {
	f.Add(mustPayload(f, testClaims()))
	f.Add(`{"sub":"a","aud":["x","y"],"exp":0,"roles":[]}`)
	f.Add(`{"sub":"a\u0000","exp":1e3}`)
	f.Add(`{"exp":0123}`)
	f.Add(" {\"iss\" :\"i\"\t, \"aud\": \"a\" } ")
	f.Add(`{"sub":"abcdefghijklmnop\u0041qrstuvwxyz","roles":["abcdefgh\\ijklmnop"]}`)
	f.Add("{\"sub\":\"abcdefghijklmnop\x01qrstuvwx\"}")
	f.Fuzz(func(t *testing.T, s string) {
		var fast Claims
		fastOK := parseClaimsFast(s, &fast)
		slow, err := parseClaimsSlow(s)
		if fastOK {
			if err != nil {
				t.Fatalf("fast path accepted %q, slow path refused it: %v", s, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q: fast %+v, slow %+v", s, fast, slow)
			}
			if !json.Valid([]byte(s)) {
				t.Fatalf("fast path accepted invalid JSON %q", s)
			}
		}
		if err != nil {
			return
		}
		// Re-encode what was decoded; it must read back the same.
		for _, d := range []time.Time{slow.ExpiresAt, slow.IssuedAt, slow.NotBefore, slow.AuthTime} {
			if checkDate(d) != nil {
				t.Fatalf("decoded an out-of-range date from %q", s)
			}
		}
		enc, err := slow.MarshalJSON()
		if err != nil {
			t.Fatalf("decoded %+v from %q but cannot encode it: %v", slow, s, err)
		}
		again, err := parseClaims(string(enc))
		if err != nil {
			t.Fatalf("cannot parse encoder output %s: %v", enc, err)
		}
		// Escapes are the only thing the encoder writes that the fast path
		// leaves to the slow one.
		if !strings.Contains(string(enc), `\`) && !parseClaimsFast(string(enc), new(Claims)) {
			t.Fatalf("fast path refused encoder output %s", enc)
		}
		if !reflect.DeepEqual(again, normalizeEmpty(slow)) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", s, again, slow)
		}
	})
}

// normalizeEmpty mirrors what the encoder drops: empty strings and an
// audience of one empty string are written as absent.
func normalizeEmpty(c Claims) Claims {
	if len(c.Audience) == 1 && c.Audience[0] == "" {
		c.Audience = nil
	}
	return c
}

func TestHasSpecial(t *testing.T) {
	// Every byte value at every position of an otherwise plain word.
	for b := 0; b < 256; b++ {
		special := b < 0x20 || b == '"' || b == '\\' || b >= 0x80
		for pos := range 8 {
			w := []byte("abcdefgh")
			w[pos] = byte(b)
			if got := hasSpecial(load64(string(w))); got != special {
				t.Fatalf("hasSpecial(%q) = %v, want %v", w, got, special)
			}
		}
	}
}

func TestParseClaimsLongStrings(t *testing.T) {
	// Escapes, control characters and bad UTF-8 at every offset of a long
	// string, so that each falls in a word the fast path skips.
	plain := strings.Repeat("abcdefgh", 4)
	for _, ins := range []string{`\n`, `\u0041`, `\"`, `\\`, "\x01", "\xff", "é", "\x7f"} {
		for pos := 0; pos <= len(plain); pos++ {
			in := `{"sub":"` + plain[:pos] + ins + plain[pos:] + `"}`
			var want struct {
				Sub string `json:"sub"`
			}
			wantErr := json.Unmarshal([]byte(in), &want)
			got, err := parseClaims(in)
			if (err != nil) != (wantErr != nil) || got.Subject != want.Sub {
				t.Fatalf("%q: got %q, %v; encoding/json %q, %v", in, got.Subject, err, want.Sub, wantErr)
			}
		}
	}
}
