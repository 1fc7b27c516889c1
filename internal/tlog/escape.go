package tlog

import "unicode/utf8"

// escHex are the lowercase hex digits tlog uses in \u00xx escapes.
const escHex = "0123456789abcdef"

// escLen[b] is the length of the JSON text tlog writes for the one-byte character b
// (json_stream.c tlog_json_stream_enc_txt): 2 for `"`, `\` and \b \f \n \r \t, 6 for any
// other byte below 0x20 and for 0x7f (\u00xx), 1 for other ASCII. Bytes from 0x80 on are
// not one-byte characters and have 0, which also stops the plain-text scans of the encoder.
var escLen = func() (t [256]uint8) {
	for b := 0; b < 0x80; b++ {
		switch {
		case b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t':
			t[b] = 2
		case b < 0x20 || b == 0x7f:
			t[b] = 6
		default:
			t[b] = 1
		}
	}
	return t
}()

// escAppendByte appends the JSON text of the one-byte character b (b < 0x80) exactly as
// tlog writes it: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00xx` (lowercase hex) for the
// other controls and 0x7f, the byte itself otherwise ("/" is not escaped).
func escAppendByte(dst []byte, b byte) []byte {
	switch b {
	case '"', '\\':
		return append(dst, '\\', b)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if b < 0x20 || b == 0x7f {
		return append(dst, '\\', 'u', '0', '0', escHex[b>>4], escHex[b&0xf])
	}
	return append(dst, b)
}

// escAppendString appends s as the contents of a JSON string, escaped as tlog escapes
// its header strings (json_misc.c tlog_json_aesc_str, the same rules as the text fields).
// tlog refuses header strings that are not valid UTF-8; here every invalid byte becomes
// U+FFFD, so the message stays valid JSON whatever the caller passes.
func escAppendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			dst = escAppendByte(dst, b)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}
