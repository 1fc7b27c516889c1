package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"[session_recording]\nscope = some\nusers = alice, bob\ngroups = wheel\n",
		"[session_recording]\nscope=ALL\nexclude_users=root,\n",
		"[recorder]\nbuffer = 8M\nlog_input = yes\npayload = 2048\nnotice = hi ; there\n[access]\nauditors = audit\n",
		"scope = all\n[x]\n- = 1\n",
		"\xef\xbb\xbf[session_recording]\r\nusers = `a\nb`\n",
		"[session_recording]\n\"users\" = a\n[]\n[a] b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.conf", data)
		if err != nil {
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("error without *Error: %v", err)
			}
			for _, e := range errs {
				if e.File != "fuzz.conf" || !strings.HasPrefix(e.Error(), "fuzz.conf") {
					t.Fatalf("error without file name: %v", e)
				}
			}
			return
		}
		out := c.Format()
		c2, err := Parse("fuzz.conf", out)
		if err != nil {
			t.Fatalf("formatted config does not parse: %v\n%s", err, out)
		}
		if out2 := c2.Format(); !bytes.Equal(out, out2) {
			t.Fatalf("format not stable:\n%s\n---\n%s", out, out2)
		}
		if !sameValues(c, c2) {
			t.Fatalf("round trip changed values:\n%+v\n%+v", c, c2)
		}
	})
}

// sameValues compares two configurations ignoring line numbers.
func sameValues(a, b *Config) bool {
	strip := func(c *Config) Config {
		x := *c
		x.Files = nil
		x.Policy.Sources = keysOf(c.Policy.Sources)
		x.Recorder.Sources = keysOf(c.Recorder.Sources)
		x.Access.Sources = keysOf(c.Access.Sources)
		return x
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func keysOf(m map[string]Source) map[string]Source {
	out := map[string]Source{}
	for k := range m {
		out[k] = Source{}
	}
	return out
}
