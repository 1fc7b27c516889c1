package snapshot

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/bash
# a comment
alice:x:1001:1001:Alice:/home/alice:/bin/bash
bob:x:1002:2000:Bob:/home/bob:/bin/sh
carol:x:1003:1003:Carol:/home/carol:/bin/dash
dave:x:1004:1004:Dave:/home/dave:/bin/bash
Alice:x:1005:1005:Other Alice:/home/Alice:/bin/bash
broken line
+nisuser
`

const testGroup = `root:x:0:
adm:x:4:carol
rec:x:2000:
ops:x:2001:carol,dave
`

func writeFiles(t *testing.T) (string, string) {
	t.Helper()
	d := t.TempDir()
	p, g := filepath.Join(d, "passwd"), filepath.Join(d, "group")
	if err := os.WriteFile(p, []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g, []byte(testGroup), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, g
}

func recorded(s *Snapshot) []string {
	var out []string
	for _, e := range s.Entries {
		if e.Record {
			out = append(out, e.Name)
		}
	}
	return out
}

func TestCompile(t *testing.T) {
	p, g := writeFiles(t)
	const rec = "/usr/bin/recd-session"
	tests := []struct {
		name      string
		rules     Rules
		want      []string
		wantCache bool
	}{
		{"none", Rules{Scope: ScopeNone, Users: []string{"alice"}, Recorder: rec}, nil, false},
		{"some users case-sensitive", Rules{Scope: ScopeSome, Users: []string{"alice"}, Recorder: rec}, []string{"alice"}, true},
		{"some primary gid of member-less group", Rules{Scope: ScopeSome, Groups: []string{"rec"}, Recorder: rec}, []string{"bob"}, true},
		{"some listed members", Rules{Scope: ScopeSome, Groups: []string{"ops"}, Recorder: rec}, []string{"carol", "dave"}, true},
		{"some ignores exclusions", Rules{Scope: ScopeSome, Users: []string{"alice"}, ExcludeUsers: []string{"alice"}, Recorder: rec}, []string{"alice"}, true},
		{"all with exclusions", Rules{Scope: ScopeAll, ExcludeUsers: []string{"root"}, ExcludeGroups: []string{"ops"}, Recorder: rec},
			[]string{"alice", "bob", "Alice"}, true},
		{"all ignores users", Rules{Scope: ScopeAll, Users: []string{"alice"}, ExcludeGroups: []string{"rec"}, Recorder: rec},
			[]string{"root", "alice", "carol", "dave", "Alice"}, true},
		{"missing group: no cache", Rules{Scope: ScopeSome, Groups: []string{"ghost"}, Recorder: rec}, nil, false},
		{"missing group irrelevant to scope", Rules{Scope: ScopeAll, Groups: []string{"ghost"}, Recorder: rec},
			[]string{"root", "alice", "bob", "carol", "dave", "Alice"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Compile(tc.rules, Options{PasswdPath: p, GroupPath: g})
			if err != nil {
				t.Fatal(err)
			}
			if got := recorded(s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("recorded %v, want %v", got, tc.want)
			}
			if (s.Passwd != nil) != tc.wantCache {
				t.Errorf("cache present %v, want %v", s.Passwd != nil, tc.wantCache)
			}
			if tc.wantCache && len(s.Entries) != 6 {
				t.Errorf("%d entries, want 6 (comments, broken and NIS lines skipped)", len(s.Entries))
			}
			data, err := Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode(Encode): %v\n%s", err, data)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("round trip differs:\n%+v\n%+v", back, s)
			}
		})
	}
}

func TestCompileDecider(t *testing.T) {
	p, g := writeFiles(t)
	s, err := Compile(Rules{Scope: ScopeSome, Recorder: "/usr/bin/tlog-rec-session"},
		Options{PasswdPath: p, GroupPath: g, NewDecider: func([]Entry, []Group) Decider {
			return func(n string) (bool, error) { return n == "dave", nil }
		}})
	if err != nil {
		t.Fatal(err)
	}
	if got := recorded(s); !reflect.DeepEqual(got, []string{"dave"}) {
		t.Errorf("recorded %v", got)
	}
	st, _ := StampOf(p)
	if *s.Passwd != st {
		t.Errorf("passwd stamp %+v, want %+v", *s.Passwd, st)
	}
	var e Entry
	for _, x := range s.Entries {
		if x.Name == "dave" {
			e = x
		}
	}
	want := Entry{Name: "dave", Passwd: "x", UID: 1004, GID: 1004, Gecos: "Dave", Dir: "/home/dave", Shell: "/bin/bash", Record: true}
	if e != want {
		t.Errorf("dave = %+v, want %+v", e, want)
	}
}

func TestWriteRead(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "policy")
	s := &Snapshot{Rules: Rules{Scope: ScopeAll, ExcludeUsers: []string{"root"}, Recorder: "/usr/bin/tlog-rec-session",
		TlogConfText: "{\"a\":\n1}\nend\n"},
		Passwd: &Stamp{1, 2, 3, 4, 5}, Group: &Stamp{6, 7, 8, 9, 10},
		Entries: []Entry{{Name: "a", Passwd: "x", UID: 1, GID: 2, Gecos: "", Dir: "/", Shell: "/bin/sh", Record: true}, {Name: "b", UID: 3}}}
	old := umask(0o077)
	defer umask(old)
	for i := 0; i < 2; i++ {
		if err := Write(path, s); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(d)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("read back %+v", back)
	}
	// A symlink at the temporary name is not followed.
	if err := Write(filepath.Join(d, "nodir", "policy"), s); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestEncodeRejects(t *testing.T) {
	ok := Rules{Scope: ScopeSome, Recorder: "/usr/bin/recd-session"}
	bad := []*Snapshot{
		{Rules: Rules{Scope: "most", Recorder: "/x"}},
		{Rules: Rules{Scope: ScopeSome, Recorder: "recd-session"}},
		{Rules: Rules{Scope: ScopeSome, Recorder: "/x", Users: []string{""}}},
		{Rules: Rules{Scope: ScopeSome, Recorder: "/x", Groups: []string{"a\nb"}}},
		{Rules: Rules{Scope: ScopeSome, Recorder: "/x", TlogConfText: "a\x00"}},
		{Rules: Rules{Scope: ScopeSome, Recorder: "/x", TlogConfText: strings.Repeat("x", MaxTlogConf+1)}},
		{Rules: ok, Entries: []Entry{{Name: "a:b"}}},
		{Rules: ok, Entries: []Entry{{Name: "a", Record: true, Gecos: "x:y"}}},
		{Rules: ok, Entries: []Entry{{Name: ""}}},
	}
	for i, s := range bad {
		if _, err := Encode(s); err == nil {
			t.Errorf("case %d: Encode accepted %+v", i, s)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := "recd-policy 1\nscope some\nrecorder /r\nend\n"
	if _, err := Decode([]byte(good)); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"",
		"recd-policy 2\nscope some\nrecorder /r\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\n",       // no end
		"recd-policy 1\nscope some\nrecorder /r\nend\nx", // after end
		"recd-policy 1\nscope some\nrecorder /r\nend",    // no newline
		"recd-policy 1\nscope some\nscope all\nrecorder /r\nend\n",
		"recd-policy 1\nscope Some\nrecorder /r\nend\n",
		"recd-policy 1\nscope some\nrecorder r\nend\n",
		"recd-policy 1\nscope some\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nuser \nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nfoo bar\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\ntlog-conf 5\nab\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\ntlog-conf 0\n\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\ntlog-conf 05\nabcde\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nstamp passwd 1 2 3 4\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nstamp passwd 1 2 3 1000000000 5\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nstamp passwd 1 2 3 4 5\nstamp passwd 1 2 3 4 5\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nstamp shadow 1 2 3 4 5\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nrec a:x:1:2:g:/d\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nrec a:x:4294967296:2:g:/d:/s\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nrec a:x:-1:2:g:/d:/s\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nnorec a:01\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\nnorec :1\nend\n",
		"recd-policy 1\nscope some\nrecorder /r\x00\nend\n",
	}
	for _, b := range bad {
		if _, err := Decode([]byte(b)); err == nil {
			t.Errorf("Decode accepted %q", b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("recd-policy 1\nscope some\nrecorder /r\nuser a\ngroup g\nend\n"))
	f.Add([]byte("recd-policy 1\nscope all\nrecorder /usr/bin/tlog-rec-session\nexclude-user b\nexclude-group g\n" +
		"tlog-conf 3\n{\n}\nstamp passwd 1 2 3 4 5\nstamp group 6 7 8 9 10\nrec a:x:1:2:G:/d:/bin/sh\nnorec b:3\nend\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			return
		}
		enc, err := Encode(s)
		if err != nil {
			t.Fatalf("Encode of a decoded snapshot: %v", err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(s)): %v", err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip differs")
		}
	})
}
