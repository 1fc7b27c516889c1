package recording

import (
	"testing"

	"github.com/recd-dev/recd/internal/journal"
)

// An entry journald processed after recd's writer died has _UID=0 but no _COMM and no
// _EXE: it is genuine. One that names another program, or comes from a user, is not.
// (Found by the load test's chaos run: kill -9 of recd while journald was behind.)
func TestGenuineRecdWriterGone(t *testing.T) {
	entry := func(kv ...string) journal.Entry {
		e := journal.Entry{FieldRec: {[]byte("rec-1")}}
		for i := 0; i+1 < len(kv); i += 2 {
			e[kv[i]] = [][]byte{[]byte(kv[i+1])}
		}
		return e
	}
	for _, tc := range []struct {
		e    journal.Entry
		want bool
	}{
		{entry(FieldUID, "0", FieldComm, RecorderComm, "_EXE", "/usr/sbin/recd"), true},
		{entry(FieldUID, "0"), true}, // the writer was gone when journald read /proc
		{entry(FieldUID, "0", FieldComm, "logger"), false},
		{entry(FieldUID, "0", "_EXE", "/usr/bin/logger"), false},
		{entry(FieldUID, "1000"), false},
		{entry(FieldUID, "1000", FieldComm, RecorderComm), false},
	} {
		if got := GenuineRecd(tc.e, "rec-1"); got != tc.want {
			t.Errorf("GenuineRecd(%v) = %v, want %v", tc.e, got, tc.want)
		}
	}
}
