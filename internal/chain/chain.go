// Package chain computes the hash chain recd puts on every journal entry of a recording
// (RECD_CHAIN), as docs/recording-format.md defines it. The writer (recd) and the checker
// (recctl verify) both use it, so they cannot drift apart.
package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
)

// Field is the name of the chain field itself.
const Field = "RECD_CHAIN"

// Seed is the chain value before the first entry of recording rec.
func Seed(rec string) string { return "recd-chain-v1:" + rec }

// Covered reports whether field name is part of an entry's canonical form.
func Covered(name string) bool {
	if name == Field {
		return false
	}
	return strings.HasPrefix(name, "RECD_") || strings.HasPrefix(name, "TLOG_") ||
		name == "MESSAGE" || name == "MESSAGE_ID"
}

// Next returns the chain value after an entry with the given fields, whose predecessor's
// chain value is prev. Fields not Covered are ignored, so the caller may pass the whole
// entry as journalctl shows it.
func Next(prev string, fields map[string][]byte) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		if Covered(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	for _, n := range names {
		// The length prefix makes the form unambiguous: no value can pose as a field.
		h.Write([]byte(n + "=" + strconv.Itoa(len(fields[n])) + ":"))
		h.Write(fields[n])
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
