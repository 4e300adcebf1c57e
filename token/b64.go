package token

import "encoding/binary"

// A strict decoder for unpadded base64url (RFC 7515 section 2) that reads
// a string in place. encoding/base64 would need a []byte copy of each
// segment, and even in Strict mode it skips '\r' and '\n', so two different
// strings would decode to the same signature. Here every segment has
// exactly one accepted spelling.

// invalidB64 marks bytes outside the base64url alphabet in b64dec.
const invalidB64 = 0xff

// b64dec maps a byte to its 6-bit base64url value, or invalidB64. A
// constant string rather than a table variable: nothing can change it.
const b64dec = "" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x3e\xff\xff" + // '-'
	"\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\xff\xff\xff\xff\xff\xff" + // '0'-'9'
	"\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e" + // 'A'-'O'
	"\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\xff\xff\xff\xff\x3f" + // 'P'-'Z', '_'
	"\xff\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28" + // 'a'-'o'
	"\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\xff\xff\xff\xff\xff" + // 'p'-'z'
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

// decodedLen returns how many bytes n unpadded base64url characters hold,
// or -1 if no encoding is n characters long.
func decodedLen(n int) int {
	if n%4 == 1 {
		return -1
	}
	return n/4*3 + n%4*6/8
}

// encodedLen returns the length of the unpadded base64url encoding of n
// bytes.
func encodedLen(n int) int {
	return n/3*4 + (n%3*8+5)/6
}

// decodeSegment decodes s into dst, which must be decodedLen(len(s)) long.
// It refuses characters outside the alphabet, padding, and encodings whose
// unused final bits are not zero.
func decodeSegment(dst []byte, s string) bool {
	if len(dst) != decodedLen(len(s)) {
		return false
	}
	var bad byte // any invalidB64 value sets the top bit
	// Eight characters make six bytes; the store writes eight, and the
	// next round (or the tail below) overwrites the last two.
	for len(s) >= 8 && len(dst) >= 8 {
		a, b, c, d := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]], b64dec[s[3]]
		e, f, g, h := b64dec[s[4]], b64dec[s[5]], b64dec[s[6]], b64dec[s[7]]
		bad |= a | b | c | d | e | f | g | h
		v := uint64(a)<<58 | uint64(b)<<52 | uint64(c)<<46 | uint64(d)<<40 |
			uint64(e)<<34 | uint64(f)<<28 | uint64(g)<<22 | uint64(h)<<16
		binary.BigEndian.PutUint64(dst, v)
		s, dst = s[8:], dst[6:]
	}
	for len(s) >= 4 && len(dst) >= 3 {
		a, b, c, d := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]], b64dec[s[3]]
		bad |= a | b | c | d
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[0], dst[1], dst[2] = byte(v>>16), byte(v>>8), byte(v)
		s, dst = s[4:], dst[3:]
	}
	switch len(s) {
	case 2:
		a, b := b64dec[s[0]], b64dec[s[1]]
		bad |= a | b
		if b&0x0f != 0 || len(dst) < 1 {
			return false
		}
		dst[0] = a<<2 | b>>4
	case 3:
		a, b, c := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]]
		bad |= a | b | c
		if c&0x03 != 0 || len(dst) < 2 {
			return false
		}
		dst[0], dst[1] = a<<2|b>>4, b<<4|c>>2
	}
	return bad&0x80 == 0
}
