package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		scope   Scope
		users   []string
		groups  []string
		exUsers []string
		wantErr string
	}{
		{name: "empty file", text: "", scope: ScopeNone},
		{name: "scope case-insensitive", text: "[session_recording]\nscope = SoMe\n", scope: ScopeSome},
		{name: "no spaces", text: "[session_recording]\nscope=all\n", scope: ScopeAll},
		{name: "lists trimmed", text: "[session_recording]\nscope=some\nusers =  alice ,bob\t,  carol\n", scope: ScopeSome, users: []string{"alice", "bob", "carol"}},
		{name: "empty list", text: "[session_recording]\nusers =\ngroups=\n", scope: ScopeNone},
		{name: "duplicates dropped", text: "[session_recording]\nusers = a, b, a, b, c\n", users: []string{"a", "b", "c"}},
		{name: "case-sensitive names", text: "[session_recording]\nusers = Alice, alice\n", users: []string{"Alice", "alice"}},
		{name: "duplicate key last wins", text: "[session_recording]\nusers = a\nusers = b\n", users: []string{"b"}},
		{name: "repeated section merges", text: "[session_recording]\nusers = a\n[access]\n[session_recording]\ngroups = g\n", users: []string{"a"}, groups: []string{"g"}},
		{name: "inline hash is part of value", text: "[session_recording]\nusers = a#b\n", users: []string{"a#b"}},
		{name: "no substitution", text: "[session_recording]\nusers = %(x)s\n", users: []string{"%(x)s"}},
		{name: "quotes kept", text: "[session_recording]\nusers = \"a\"\n", users: []string{`"a"`}},
		{name: "exclusions", text: "[session_recording]\nscope = all\nexclude_users = root\n", scope: ScopeAll, exUsers: []string{"root"}},
		{name: "crlf", text: "[session_recording]\r\nscope = all\r\n", scope: ScopeAll},
		{name: "bad scope", text: "[session_recording]\nscope = everyone\n", wantErr: `t.conf:2: [session_recording] scope: invalid value "everyone" (valid values: none, some, all)`},
		{name: "unknown key", text: "[session_recording]\nscope = all\n\nexclude_user = bob\n", wantErr: "t.conf:4: [session_recording] exclude_user: unknown key (did you mean exclude_users?)"},
		{name: "unknown section", text: "[session_recordings]\nscope = all\n", wantErr: "t.conf:1: [session_recordings] unknown section (did you mean session_recording?)"},
		{name: "empty item", text: "[session_recording]\nusers = a,,b\n", wantErr: "t.conf:2: [session_recording] users: empty name at position 2"},
		{name: "trailing comma", text: "[session_recording]\nusers = a,b,\n", wantErr: "t.conf:2: [session_recording] users: empty name at position 3"},
		{name: "key outside section", text: "scope = all\n", wantErr: "t.conf:1: scope: key outside any section"},
		{name: "colon delimiter", text: "[session_recording]\nscope: all\n", wantErr: "t.conf:2: [session_recording] expected \"key = value\""},
		{name: "backtick value", text: "[session_recording]\nusers = `a`\n", wantErr: "t.conf:2: [session_recording] users: quoted values are not supported"},
		{name: "unclosed section", text: "[session_recording\n", wantErr: "t.conf:1: unclosed section header"},
		{name: "bad bool", text: "[recorder]\nlog_input = maybe\n", wantErr: `t.conf:2: [recorder] log_input: invalid boolean "maybe"`},
		{name: "bad payload", text: "[recorder]\npayload = 16\n", wantErr: `t.conf:2: [recorder] payload: invalid value "16" (an integer from 32`},
		{name: "bad enum", text: "[recorder]\nlimit_action = stop\n", wantErr: "valid values: pass, delay, drop"},
		{name: "relative shell", text: "[recorder]\nshell = bash\n", wantErr: `t.conf:2: [recorder] shell: invalid value "bash"`},
		{name: "all errors collected", text: "[session_recording]\nscope = x\nuser = a\n[bogus]\n", wantErr: "t.conf:4: [bogus] unknown section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.conf", []byte(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
				}
				for _, e := range Errors(err) {
					if e.File != "t.conf" {
						t.Errorf("error without file: %v", e)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := c.Policy
			if p.Scope != tt.scope || !reflect.DeepEqual(p.Users, tt.users) || !reflect.DeepEqual(p.Groups, tt.groups) || !reflect.DeepEqual(p.ExcludeUsers, tt.exUsers) {
				t.Errorf("policy = %+v", p)
			}
		})
	}
}

func TestAllErrorsCollected(t *testing.T) {
	_, err := Parse("t.conf", []byte("[session_recording]\nscope = x\nuser = a\n[bogus]\nk=v\n"))
	if got := len(Errors(err)); got != 3 {
		t.Fatalf("got %d errors, want 3: %v", got, err)
	}
}

func TestSources(t *testing.T) {
	c, err := Parse("t.conf", []byte("# c\n[session_recording]\nscope = some\nusers = a\n\n[session_recording]\nusers = b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Policy.Source("scope").String(); got != "t.conf:3" {
		t.Errorf("scope source %s", got)
	}
	if got := c.Policy.Source("users").String(); got != "t.conf:7" {
		t.Errorf("users source %s", got)
	}
	if got := c.Policy.Source("groups").String(); got != "default" {
		t.Errorf("groups source %s", got)
	}
}

func TestIgnored(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"[session_recording]\nscope=some\nusers=a\nexclude_users=bob\n", []string{"exclude_users"}},
		{"[session_recording]\nscope=all\nusers=a\ngroups=g\nexclude_groups=x\n", []string{"users", "groups"}},
		{"[session_recording]\nscope=none\nusers=a\n", []string{"users"}},
		{"[session_recording]\nscope=all\nusers=\n", nil},
	}
	for _, tt := range tests {
		c, err := Parse("t.conf", []byte(tt.text))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ig := range c.Policy.Ignored() {
			got = append(got, ig.Key)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: ignored %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestRecorder(t *testing.T) {
	c, err := Parse("t.conf", []byte("[recorder]\nrecorder = tlog\nlog_input = YES\nbuffer = 16MiB\npayload = 32\nlimit_action = Drop\n[access]\nauditors = audit\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Recorder
	if r.Recorder != "tlog" || !r.LogInput || r.Buffer != 16<<20 || r.Payload != 32 || r.LimitAction != LimitDrop || r.Latency != 10 || c.Access.Auditors != "audit" {
		t.Errorf("recorder = %+v", r)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"8M", 8 << 20, false}, {"16MiB", 16 << 20, false}, {"4096", 4096, false}, {"1k", 1024, false},
		{"2G", 2 << 30, false}, {"", 0, true}, {"-1", 0, true}, {"M", 0, true}, {"9999999999999G", 0, true}, {"1.5M", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "recd.conf")
	dropins := filepath.Join(dir, "conf.d")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Missing main file: defaults, reported missing.
	c, err := Load(main, dropins)
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.Scope != ScopeNone || len(c.Files) != 1 || !c.Files[0].Missing {
		t.Fatalf("missing main: %+v", c)
	}
	write(main, "[session_recording]\nscope = some\nusers = alice\n")
	os.Mkdir(dropins, 0o755)
	write(filepath.Join(dropins, "20-b.conf"), "[session_recording]\nusers = carol\n")
	write(filepath.Join(dropins, "10-a.conf"), "[session_recording]\nusers = bob\ngroups = wheel\n")
	write(filepath.Join(dropins, "README"), "not ini at all")
	write(filepath.Join(dropins, "x.conf.bak"), "garbage")
	c, err = Load(main, dropins)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Policy.Users, []string{"carol"}) || !reflect.DeepEqual(c.Policy.Groups, []string{"wheel"}) || c.Policy.Scope != ScopeSome {
		t.Errorf("policy %+v", c.Policy)
	}
	if got := c.Policy.Source("users").String(); got != filepath.Join(dropins, "20-b.conf")+":2" {
		t.Errorf("users source %s", got)
	}
	if len(c.Files) != 3 {
		t.Errorf("files %+v", c.Files)
	}
	write(filepath.Join(dropins, "30-bad.conf"), "[session_recording]\nexclude_user = x\n")
	write(filepath.Join(dropins, "40-bad.conf"), "[session_recording]\nscope = x\n")
	_, err = Load(main, dropins)
	if errs := Errors(err); len(errs) != 2 || !strings.HasSuffix(errs[0].File, "30-bad.conf") || errs[0].Line != 2 {
		t.Errorf("errors %v", err)
	}
}

func TestSuggest(t *testing.T) {
	if got := suggest("exclude_user", keyNames(SectionSessionRecording)); got != "did you mean exclude_users?" {
		t.Errorf("got %q", got)
	}
	if got := suggest("completely_different", keyNames(SectionSessionRecording)); got != "" {
		t.Errorf("got %q", got)
	}
}
