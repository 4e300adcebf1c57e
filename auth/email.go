package auth

import (
	"net/mail"
	"strings"

	"github.com/gatehouse/gatehouse/apperr"
)

// maxEmailLength is the longest address SMTP can carry (RFC 5321 path limit).
const maxEmailLength = 254

// NormalizeEmail trims and lower-cases an address and checks that it is a
// bare address (no display name, no comments). Lower-casing the local part
// is not strictly RFC 5321, but every real provider treats it so, and it
// makes "Ann@x.org" and "ann@x.org" one account.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	bad := apperr.New(apperr.Unprocessable, "Enter a valid email address, like name@example.com.")
	if s == "" {
		return "", apperr.New(apperr.Unprocessable, "Email is required.")
	}
	if len(s) > maxEmailLength {
		return "", apperr.New(apperr.Unprocessable, "Email address is too long (at most 254 characters).")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n\"") {
		return "", bad
	}
	return s, nil
}
