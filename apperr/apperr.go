// Package apperr is gatehouse's one application error type: a code that
// decides the HTTP status, and a message that is safe to show to the
// caller. Internal detail stays in the wrapped error, which is logged and
// never sent.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error. The HTTP layer maps each code to one status.
type Code string

// The codes gatehouse uses. Keep them few: each is a status and a problem type.
const (
	Invalid         Code = "invalid"                   // 400: malformed input
	Unprocessable   Code = "unprocessable"             // 422: well-formed input that fails a rule
	Unauthenticated Code = "unauthenticated"           // 401: no or bad credentials
	Forbidden       Code = "forbidden"                 // 403: known caller, not allowed
	Reauth          Code = "reauthentication_required" // 401: sign in again (recent password) first
	CSRF            Code = "csrf"                      // 403: cross-site or missing CSRF token
	NotFound        Code = "not_found"                 // 404
	Conflict        Code = "conflict"                  // 409: duplicate
	TooLarge        Code = "too_large"                 // 413
	UnsupportedType Code = "unsupported_type"          // 415
	TooManyRequests Code = "too_many_requests"         // 429: sign-in backoff after repeated failures
	Busy            Code = "busy"                      // 429: the password-hashing pool is full; retry after Retry-After
	Unavailable     Code = "unavailable"               // 503: a dependency is down
	Internal        Code = "internal"                  // 500: a bug or an outage; message is generic
)

// Error is an error with a code and a message meant for people.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set, becomes the Retry-After header.
	RetryAfter time.Duration
	// OAuth is the RFC 6749 error code ("invalid_grant", …) the OAuth
	// endpoints answer with; empty elsewhere.
	OAuth string
	// Err is the underlying cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with the code and message.
func New(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Wrap returns an Error with the code and message that keeps err for the log.
func Wrap(code Code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// Retry returns an Error that asks the caller to come back after d.
func Retry(code Code, message string, d time.Duration) *Error {
	return &Error{Code: code, Message: message, RetryAfter: d}
}

// OAuth returns an Error for the OAuth endpoints: the RFC 6749 error code
// plus the usual code and message.
func OAuth(code Code, oauthCode, message string) *Error {
	return &Error{Code: code, Message: message, OAuth: oauthCode}
}

// As returns err as an *Error. Anything else comes from below the
// application — a store or network failure, a cancelled request — and
// becomes Unavailable (503, retry shortly) whose message reveals nothing,
// keeping err for the log. Bugs surface as panics, which the HTTP layer
// turns into 500.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Unavailable, Message: "A service gatehouse depends on is unavailable; please try again shortly.", RetryAfter: time.Second, Err: err}
}

// CodeOf returns err's code, or Internal when err is not an *Error.
func CodeOf(err error) Code {
	return As(err).Code
}
