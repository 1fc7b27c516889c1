package testhost

import (
	"strings"
	"testing"
)

func TestDecodeJournalJSON(t *testing.T) {
	in := `{"MESSAGE":"plain","_HOSTNAME":"h1"}
{"MESSAGE":[98,105,110,1,10],"MULTI":["a",[104,105]],"NULLED":null}
`
	got, err := DecodeJournalJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	if Field(got[0], "MESSAGE") != "plain" || Field(got[0], "_HOSTNAME") != "h1" {
		t.Errorf("entry 0 = %v", got[0])
	}
	if m := Field(got[1], "MESSAGE"); m != "bin\x01\n" {
		t.Errorf("byte-array MESSAGE = %q, want %q", m, "bin\x01\n")
	}
	multi, ok := got[1]["MULTI"].([]any)
	if !ok || len(multi) != 2 || multi[0] != "a" || multi[1] != "hi" {
		t.Errorf("MULTI = %#v, want [a hi]", got[1]["MULTI"])
	}
	if got[1]["NULLED"] != nil {
		t.Errorf("NULLED = %#v, want nil", got[1]["NULLED"])
	}
	if _, err := DecodeJournalJSON([]byte("{not json")); err == nil {
		t.Error("bad JSON: no error")
	}
}

func TestSSHDConfig(t *testing.T) {
	c := SSHDConfig(SSHDOptions{})
	for _, want := range []string{"Port 2222\n", "ListenAddress 127.0.0.1\n", "UsePAM yes\n",
		"PasswordAuthentication no\n", "PermitRootLogin prohibit-password\n", "LogLevel VERBOSE\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("default config lacks %q", want)
		}
	}
	c = SSHDConfig(SSHDOptions{Port: 2200, PasswordAuthentication: true, Extra: "Match User bob\n  ForceCommand true"})
	for _, want := range []string{"Port 2200\n", "PasswordAuthentication yes\n", "Match User bob\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q", want)
		}
	}
}

func TestStandalone(t *testing.T) {
	var s Standalone
	var order []string
	err := s.Run(func(tt T) {
		tt.Cleanup(func() { order = append(order, "first") })
		tt.Cleanup(func() { order = append(order, "second") })
		tt.Fatalf("boom %d", 42)
		order = append(order, "not reached")
	})
	if err == nil || err.Error() != "boom 42" {
		t.Errorf("err = %v, want boom 42", err)
	}
	if !s.Failed() {
		t.Error("Failed() = false after Fatalf")
	}
	if strings.Join(order, ",") != "second,first" {
		t.Errorf("cleanup order = %v", order)
	}
	var s2 Standalone
	if err := s2.Run(func(tt T) { tt.Skipf("no root") }); err == nil || s2.Failed() {
		t.Errorf("Skipf: err = %v, failed = %v", err, s2.Failed())
	}
	var s3 Standalone
	if err := s3.Run(func(T) {}); err != nil {
		t.Errorf("clean run: %v", err)
	}
}
