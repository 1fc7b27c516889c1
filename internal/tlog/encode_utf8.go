package tlog

// UTF-8 validity as tlog checks it (lib/tlog/utf8.c: Unicode 7.0, chapter 3, table 3-7).
// A sequence is a lead byte followed by continuation bytes in the ranges below; overlong
// forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points above
// U+10FFFF (F4 90.., F5..FF) are invalid. The bytes of a sequence that stops matching form
// one invalid sequence (its maximal valid prefix, or the single bad lead byte); the byte
// that did not match starts the next sequence.

// encLead describes the sequences starting with one lead byte.
type encLead struct {
	n      uint8 // sequence length; 0 for a byte that cannot start a sequence
	lo, hi uint8 // range of the second byte (n >= 2)
}

// encLeads maps every byte to the sequences it starts.
var encLeads = func() (t [256]encLead) {
	set := func(from, to int, n, lo, hi uint8) {
		for b := from; b <= to; b++ {
			t[b] = encLead{n, lo, hi}
		}
	}
	set(0x00, 0x7f, 1, 0, 0)
	set(0xc2, 0xdf, 2, 0x80, 0xbf)
	set(0xe0, 0xe0, 3, 0xa0, 0xbf)
	set(0xe1, 0xec, 3, 0x80, 0xbf)
	set(0xed, 0xed, 3, 0x80, 0x9f)
	set(0xee, 0xef, 3, 0x80, 0xbf)
	set(0xf0, 0xf0, 4, 0x90, 0xbf)
	set(0xf1, 0xf3, 4, 0x80, 0xbf)
	set(0xf4, 0xf4, 4, 0x80, 0x8f)
	return t
}()

// encContinues reports whether b is a valid byte at index k (k >= 1) of a sequence whose
// lead byte is lead.
func encContinues(lead byte, k int, b byte) bool {
	if k == 1 {
		l := &encLeads[lead]
		return b >= l.lo && b <= l.hi
	}
	return b >= 0x80 && b <= 0xbf
}

// encValidLen returns the length of the complete, valid multi-byte character at the start
// of p, or 0 if p starts with an invalid or incomplete sequence.
func encValidLen(p []byte) int {
	l := &encLeads[p[0]]
	n := int(l.n)
	if n < 2 || len(p) < n || p[1] < l.lo || p[1] > l.hi {
		return 0
	}
	for k := 2; k < n; k++ {
		if p[k] < 0x80 || p[k] > 0xbf {
			return 0
		}
	}
	return n
}
