// Package token issues and verifies gatehouse's access tokens: compact JWS
// JWTs in the RFC 9068 profile (typ "at+jwt"), signed with keys that this
// package also generates, serialises, encrypts at rest and publishes as a
// JWKS (RFC 7517).
//
// It is a pure library: no storage, no HTTP, no clock of its own. Callers
// load keys, build an immutable [KeySet], and swap in a new one when keys
// rotate.
//
// Verification follows RFC 8725 and is strict on purpose. gatehouse only
// accepts tokens it issued, so the header segment of a valid token is one of
// the few byte strings the key set produced. [Verifier.Verify] looks the
// header segment up as a whole and refuses anything else before parsing a
// byte of JSON: no "none", no algorithm confusion, no jku/x5u/crit, and the
// algorithm and key always come from the key set, never from the token.
package token
