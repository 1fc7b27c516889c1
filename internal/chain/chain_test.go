package chain

import "testing"

func TestNext(t *testing.T) {
	base := map[string][]byte{"RECD_REC": []byte("r1"), "RECD_ENTRY": []byte("1"), "MESSAGE": []byte("hi\n"), "_PID": []byte("5")}
	h := Next(Seed("r1"), base)
	if len(h) != 64 {
		t.Fatalf("hash %q", h)
	}
	// Golden: sha256 of "recd-chain-v1:r1\nMESSAGE=3:hi\n\nRECD_ENTRY=1:1\nRECD_REC=2:r1\n".
	if want := "f50f8cb9230a69c033dba2f0db033bdbc942e992767f9d11e2930120ae5d7eb2"; h != want {
		t.Fatalf("golden changed: %s", h)
	}
	cases := []struct {
		name   string
		change func(map[string][]byte)
		same   bool
	}{
		{"untrusted field ignored", func(m map[string][]byte) { m["_PID"] = []byte("6") }, true},
		{"chain field ignored", func(m map[string][]byte) { m[Field] = []byte("x") }, true},
		{"message changed", func(m map[string][]byte) { m["MESSAGE"] = []byte("hj\n") }, false},
		{"entry number changed", func(m map[string][]byte) { m["RECD_ENTRY"] = []byte("2") }, false},
		{"tlog field added", func(m map[string][]byte) { m["TLOG_ID"] = []byte("1") }, false},
		{"value moved across names", func(m map[string][]byte) {
			m["RECD_ENTRY"] = []byte("1\nRECD_REC=r1")
			delete(m, "RECD_REC")
		}, false},
	}
	for _, c := range cases {
		m := map[string][]byte{}
		for k, v := range base {
			m[k] = v
		}
		c.change(m)
		if got := Next(Seed("r1"), m); (got == h) != c.same {
			t.Errorf("%s: same=%v, want %v", c.name, got == h, c.same)
		}
	}
	if Next(Seed("r2"), base) == h {
		t.Error("seed does not depend on the recording")
	}
}
