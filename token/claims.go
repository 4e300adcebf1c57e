package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Claims is the payload of a gatehouse access token (RFC 9068 with the
// session ID and roles gatehouse adds). Times are whole seconds (JWT
// NumericDate); a zero time means the claim is absent.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user ID
	Audience  []string  // aud: one value is serialised as a plain string
	ExpiresAt time.Time // exp: required
	IssuedAt  time.Time // iat: required
	NotBefore time.Time // nbf: optional
	ID        string    // jti: Issue fills a random one if empty
	SessionID string    // sid: the session this token belongs to
	Roles     []string  // roles: optional
	Scope     string    // scope: optional, space-separated (RFC 8693)
	AuthTime  time.Time // auth_time: optional, when the user authenticated
}

// maxNumericDate is 9999-12-31T23:59:59Z. Dates are whole, non-negative
// seconds up to it; larger values only appear in forged or broken tokens.
const maxNumericDate = 253402300799

// MarshalJSON renders the claims as Issue puts them in a token.
func (c Claims) MarshalJSON() ([]byte, error) {
	if err := checkStrings(&c); err != nil {
		return nil, err
	}
	for _, t := range []time.Time{c.ExpiresAt, c.IssuedAt, c.NotBefore, c.AuthTime} {
		if err := checkDate(t); err != nil {
			return nil, err
		}
	}
	return appendClaims(nil, &c), nil
}

// UnmarshalJSON parses claims as Verify does, without checking them.
func (c *Claims) UnmarshalJSON(data []byte) error {
	v, err := parseClaims(string(data))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// checkIssuable reports whether Issue may sign c: every claim Verify
// requires is present and every value can be encoded exactly.
func checkIssuable(c *Claims) error {
	switch {
	case c.Issuer == "":
		return fmt.Errorf("%w: missing iss", ErrClaims)
	case c.Subject == "":
		return fmt.Errorf("%w: missing sub", ErrClaims)
	case len(c.Audience) == 0:
		return fmt.Errorf("%w: missing aud", ErrClaims)
	case c.SessionID == "":
		return fmt.Errorf("%w: missing sid", ErrClaims)
	case c.ID == "":
		return fmt.Errorf("%w: missing jti", ErrClaims)
	case c.ExpiresAt.IsZero():
		return fmt.Errorf("%w: missing exp", ErrClaims)
	case c.IssuedAt.IsZero():
		return fmt.Errorf("%w: missing iat", ErrClaims)
	case c.ExpiresAt.Unix() <= c.IssuedAt.Unix():
		return fmt.Errorf("%w: exp is not after iat", ErrClaims)
	}
	for _, a := range c.Audience {
		if a == "" {
			return fmt.Errorf("%w: empty aud value", ErrClaims)
		}
	}
	for _, t := range []time.Time{c.ExpiresAt, c.IssuedAt, c.NotBefore, c.AuthTime} {
		if err := checkDate(t); err != nil {
			return err
		}
	}
	return checkStrings(c)
}

// checkDate reports whether t is absent or a NumericDate gatehouse writes.
func checkDate(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if s := t.Unix(); s < 0 || s > maxNumericDate {
		return fmt.Errorf("%w: time %v out of range", ErrClaims, t)
	}
	return nil
}

// checkStrings refuses invalid UTF-8, which JSON cannot carry unchanged
// (encoding/json would turn it into U+FFFD behind the caller's back).
func checkStrings(c *Claims) error {
	ok := utf8.ValidString(c.Issuer) && utf8.ValidString(c.Subject) &&
		utf8.ValidString(c.ID) && utf8.ValidString(c.SessionID) && utf8.ValidString(c.Scope)
	for _, s := range c.Audience {
		ok = ok && utf8.ValidString(s)
	}
	for _, s := range c.Roles {
		ok = ok && utf8.ValidString(s)
	}
	if !ok {
		return fmt.Errorf("%w: claim is not valid UTF-8", ErrClaims)
	}
	return nil
}

// appendClaims appends the JSON object for c: fixed member order, empty
// optional claims left out, one audience as a string. The strings must be
// valid UTF-8 and the dates in range (checkIssuable).
func appendClaims(b []byte, c *Claims) []byte {
	sep := byte('{')
	str := func(name, v string) {
		if v != "" {
			b = append(b, sep, '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = appendJSONString(b, v)
			sep = ','
		}
	}
	date := func(name string, t time.Time) {
		if !t.IsZero() {
			b = append(b, sep, '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = strconv.AppendInt(b, t.Unix(), 10)
			sep = ','
		}
	}
	list := func(name string, v []string) {
		b = append(b, sep, '"')
		b = append(b, name...)
		b = append(b, '"', ':', '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
		sep = ','
	}
	str("iss", c.Issuer)
	str("sub", c.Subject)
	switch len(c.Audience) {
	case 0:
	case 1:
		str("aud", c.Audience[0])
	default:
		list("aud", c.Audience)
	}
	date("exp", c.ExpiresAt)
	date("nbf", c.NotBefore)
	date("iat", c.IssuedAt)
	date("auth_time", c.AuthTime)
	str("jti", c.ID)
	str("sid", c.SessionID)
	str("scope", c.Scope)
	if len(c.Roles) > 0 {
		list("roles", c.Roles)
	}
	if sep == '{' {
		b = append(b, '{')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, escaping only what JSON
// requires: the quote, the backslash and control characters.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// parseClaims decodes a claims object. The fast path reads the exact shape
// appendClaims writes without allocating beyond one slice; anything else
// (escapes, unknown members, duplicates, other number forms, errors) goes
// to parseClaimsSlow, which is authoritative. The fast path only ever
// accepts input that parseClaimsSlow decodes to the same value (FuzzClaims
// checks this).
func parseClaims(s string) (Claims, error) {
	var c Claims
	if parseClaimsFast(s, &c) {
		return c, nil
	}
	return parseClaimsSlow(s)
}

// fastParser reads JSON from s in place; strings it returns are substrings
// of s, so they cost no allocation.
type fastParser struct {
	s string
	i int
}

// parseClaimsFast decodes s into c if s is in the simple form: known
// members only, strings without escapes, dates as plain integers. It
// reports false, leaving c in any state, for anything else. A repeated
// member overwrites the earlier one, as in encoding/json.
func parseClaimsFast(s string, c *Claims) bool {
	p := fastParser{s: s}
	// aud and roles go into one allocation at the end; most tokens have
	// one audience and a few roles.
	var scratch [8]string
	list := scratch[:0]
	audAt, audN, rolesAt, rolesN := 0, 0, 0, 0
	if !p.consume('{') {
		return false
	}
	if p.peek() == '}' {
		p.i++
		return p.end()
	}
	var seen uint16 // one bit per member name: a repeat goes to the slow path, which refuses it
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return false
		}
		if bit := memberBit(key); bit == 0 || seen&bit != 0 {
			return false
		} else {
			seen |= bit
		}
		switch key {
		case "iss":
			c.Issuer, ok = p.str()
		case "sub":
			c.Subject, ok = p.str()
		case "jti":
			c.ID, ok = p.str()
		case "sid":
			c.SessionID, ok = p.str()
		case "scope":
			c.Scope, ok = p.str()
		case "exp":
			c.ExpiresAt, ok = p.date()
		case "iat":
			c.IssuedAt, ok = p.date()
		case "nbf":
			c.NotBefore, ok = p.date()
		case "auth_time":
			c.AuthTime, ok = p.date()
		case "aud":
			audAt = len(list)
			if p.peek() == '"' {
				var a string
				a, ok = p.str()
				list = append(list, a)
			} else {
				list, ok = p.strs(list)
			}
			audN = len(list) - audAt
		case "roles":
			rolesAt = len(list)
			list, ok = p.strs(list)
			rolesN = len(list) - rolesAt
		default:
			return false
		}
		if !ok {
			return false
		}
		switch p.next() {
		case ',':
			continue
		case '}':
			if !p.end() {
				return false
			}
			if len(list) > 0 {
				all := make([]string, len(list))
				copy(all, list)
				if audN > 0 {
					c.Audience = all[audAt : audAt+audN : audAt+audN]
				}
				if rolesN > 0 {
					c.Roles = all[rolesAt : rolesAt+rolesN : rolesAt+rolesN]
				}
			}
			return true
		default:
			return false
		}
	}
}

// skipSpace skips JSON whitespace. Issue writes none, so the first
// comparison usually ends it.
func (p *fastParser) skipSpace() {
	for p.i < len(p.s) && p.s[p.i] <= ' ' {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0.
func (p *fastParser) peek() byte {
	p.skipSpace()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// next consumes and returns the next non-space byte, or 0.
func (p *fastParser) next() byte {
	c := p.peek()
	if c != 0 {
		p.i++
	}
	return c
}

// consume reports whether the next non-space byte is c, consuming it.
func (p *fastParser) consume(c byte) bool {
	return p.next() == c
}

// end reports whether only whitespace is left.
func (p *fastParser) end() bool {
	p.skipSpace()
	return p.i == len(p.s)
}

// str reads a string without escapes and returns it as a substring.
func (p *fastParser) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	s, i := p.s, p.i // locals, so the loops run in registers
	// Skip eight plain bytes at a time; the byte loop below finds the end
	// of the string within the first word that is not all plain.
	for i+8 <= len(s) && !hasSpecial(load64(s[i:i+8])) {
		i += 8
	}
	ascii := true
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			v := s[p.i:i]
			p.i = i + 1
			// encoding/json would replace invalid UTF-8; let it.
			return v, ascii || utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// load64 reads eight bytes of s, little-endian; the compiler makes it one
// load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasSpecial reports whether any byte of x is a control character, '"',
// '\\' or not ASCII: a byte a plain JSON string cannot skip over. (The
// classic "has a byte less than n" bit trick; it can also flag bytes
// after a special one, which only costs the byte loop a few steps.)
func hasSpecial(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((x-ones*0x20)|(quote-ones)|(backslash-ones)|x)&highs != 0
}

// strs appends the strings of a JSON array of strings to list.
func (p *fastParser) strs(list []string) ([]string, bool) {
	if !p.consume('[') {
		return list, false
	}
	if p.peek() == ']' {
		p.i++
		return list, true
	}
	for {
		v, ok := p.str()
		if !ok {
			return list, false
		}
		list = append(list, v)
		switch p.next() {
		case ',':
		case ']':
			return list, true
		default:
			return list, false
		}
	}
}

// date reads a NumericDate written as a plain integer in range.
func (p *fastParser) date() (time.Time, bool) {
	p.skipSpace()
	s, start := p.s, p.i
	i := start
	var v int64
	for ; i < len(s) && i-start <= 12; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + int64(c-'0')
	}
	p.i = i
	n := i - start
	switch {
	case n == 0 || n > 12 || v > maxNumericDate:
		return time.Time{}, false
	case n > 1 && s[start] == '0': // not JSON
		return time.Time{}, false
	}
	// A fraction or exponent ("1.5", "1e9") is left for the caller, which
	// wants ',' or '}' next and so refuses it.
	return time.Unix(v, 0).UTC(), true
}

// parseClaimsSlow decodes any JSON object with encoding/json, member by
// member, with exact (case-sensitive) names; when a name repeats, the last
// one wins, as in encoding/json. Unknown members are ignored so that a
// newer issuer can add claims. Known members must have exactly the right
// type: null is not "absent", a date is a plain integer.
// memberBit is the fast parser's bit for a claim name it knows, 0 for
// any other name.
func memberBit(name string) uint16 {
	switch name {
	case "iss":
		return 1 << 0
	case "sub":
		return 1 << 1
	case "jti":
		return 1 << 2
	case "sid":
		return 1 << 3
	case "scope":
		return 1 << 4
	case "exp":
		return 1 << 5
	case "iat":
		return 1 << 6
	case "nbf":
		return 1 << 7
	case "auth_time":
		return 1 << 8
	case "aud":
		return 1 << 9
	case "roles":
		return 1 << 10
	}
	return 0
}

// registeredClaims are the names whose case variants are refused: a
// "Sub" or "EXP" beside (or instead of) the real claim is an attempt to
// make two parsers disagree.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "scope", "roles", "auth_time"}

// checkMembers refuses a payload with a repeated member name or a case
// variant of a registered claim name (RFC 8725 section 3.5: parsers that
// disagree about duplicates are an attack surface). Only the slow path
// pays for it: the fast path refuses such payloads itself.
func checkMembers(s string) error {
	dec := json.NewDecoder(strings.NewReader(s))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
		}
		name, _ := t.(string)
		if seen[name] {
			return fmt.Errorf("%w: member %q is repeated", ErrClaims, name)
		}
		seen[name] = true
		for _, r := range registeredClaims {
			if name != r && strings.EqualFold(name, r) {
				return fmt.Errorf("%w: member %q is a case variant of %q", ErrClaims, name, r)
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
		}
	}
	return nil
}

func parseClaimsSlow(s string) (Claims, error) {
	if err := checkMembers(s); err != nil {
		return Claims{}, err
	}
	var c Claims
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return c, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	strs := []struct {
		name string
		dst  *string
	}{{"iss", &c.Issuer}, {"sub", &c.Subject}, {"jti", &c.ID}, {"sid", &c.SessionID}, {"scope", &c.Scope}}
	for _, f := range strs {
		if raw, ok := m[f.name]; ok {
			if err := slowString(raw, f.dst); err != nil {
				return Claims{}, fmt.Errorf("%w: %s: %v", ErrClaims, f.name, err)
			}
		}
	}
	dates := []struct {
		name string
		dst  *time.Time
	}{{"exp", &c.ExpiresAt}, {"iat", &c.IssuedAt}, {"nbf", &c.NotBefore}, {"auth_time", &c.AuthTime}}
	for _, f := range dates {
		if raw, ok := m[f.name]; ok {
			if err := slowDate(raw, f.dst); err != nil {
				return Claims{}, fmt.Errorf("%w: %s: %v", ErrClaims, f.name, err)
			}
		}
	}
	if raw, ok := m["aud"]; ok {
		var err error
		if raw = bytes.TrimLeft(raw, " \t\r\n"); len(raw) > 0 && raw[0] == '"' {
			c.Audience = []string{""}
			err = slowString(raw, &c.Audience[0])
		} else {
			c.Audience, err = slowStrings(raw)
		}
		if err != nil {
			return Claims{}, fmt.Errorf("%w: aud: %v", ErrClaims, err)
		}
	}
	if raw, ok := m["roles"]; ok {
		var err error
		if c.Roles, err = slowStrings(raw); err != nil {
			return Claims{}, fmt.Errorf("%w: roles: %v", ErrClaims, err)
		}
	}
	return c, nil
}

// slowString decodes a JSON string; null and other types are errors.
func slowString(raw json.RawMessage, dst *string) error {
	if raw = bytes.TrimLeft(raw, " \t\r\n"); len(raw) == 0 || raw[0] != '"' {
		return fmt.Errorf("not a string")
	}
	return json.Unmarshal(raw, dst)
}

// slowStrings decodes an array of strings; an empty array is nil.
func slowStrings(raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if raw = bytes.TrimLeft(raw, " \t\r\n"); len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf("not an array")
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, nil
	}
	out := make([]string, len(items))
	for i, item := range items {
		if err := slowString(item, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// slowDate decodes a NumericDate. RFC 7519 allows fractions, but
// gatehouse never writes them, so only plain integers in range pass.
func slowDate(raw json.RawMessage, dst *time.Time) error {
	raw = bytes.TrimSpace(raw)
	for _, c := range raw {
		if c < '0' || c > '9' {
			return fmt.Errorf("not a non-negative integer")
		}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v > maxNumericDate {
		return fmt.Errorf("out of range")
	}
	*dst = time.Unix(v, 0).UTC()
	return nil
}
