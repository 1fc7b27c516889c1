package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recd-dev/recd/internal/config"
)

const passwd = `# comment
root:x:0:0:root:/root:/bin/bash
+nisuser::::::
alice:x:1000:1000::/home/alice:/bin/bash
bob:x:1001:1001::/home/bob:/bin/bash
carol:x:1002:2000::/home/carol:/bin/bash
dave:x:1003:9999::/home/dave:/bin/bash
broken:line
eve:x:1004:1004::/home/eve:/bin/bash
`

const group = `root:x:0:
alice:x:1000:
bob:x:1001:
eve:x:1004:
wheel:x:10:bob
ops:x:2000:
audit:x:3000:dave,eve
-nisgroup:::
bad:x:notanumber:alice
`

func testDir(t *testing.T) Directory {
	t.Helper()
	dir := t.TempDir()
	p, g := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if err := os.WriteFile(p, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g, []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	return &FilesDirectory{PasswdPath: p, GroupPath: g}
}

func TestDecide(t *testing.T) {
	d := testDir(t)
	tests := []struct {
		name   string
		conf   string
		user   string
		record bool
		reason string
	}{
		{"default scope none", "", "alice", false, "scope=none; nobody is recorded"},
		{"scope none with users", "[session_recording]\nscope=none\nusers=alice\n", "alice", false, "scope=none; nobody is recorded"},
		{"scope case-insensitive", "[session_recording]\nscope=SOME\nusers=alice\n", "alice", true, "scope=some; listed in users (t.conf:3)"},
		{"some: listed", "[session_recording]\nscope=some\nusers=bob, alice\n", "alice", true, "scope=some; listed in users (t.conf:3)"},
		{"some: names with spaces", "[session_recording]\nscope=some\nusers=   alice   ,bob\n", "alice", true, "scope=some; listed in users"},
		{"some: duplicates", "[session_recording]\nscope=some\nusers=alice,alice\n", "alice", true, "listed in users"},
		{"some: case-sensitive", "[session_recording]\nscope=some\nusers=Alice\n", "alice", false, "scope=some; not in users or groups"},
		{"some: listed member", "[session_recording]\nscope=some\ngroups=wheel\n", "bob", true, "scope=some; member of group wheel (listed member)"},
		{"some: primary group without members", "[session_recording]\nscope=some\ngroups=ops\n", "carol", true, "scope=some; member of group ops (primary group)"},
		{"some: primary gid without group entry", "[session_recording]\nscope=some\ngroups=audit\n", "dave", true, "member of group audit (listed member)"},
		{"some: primary gid without entry, not listed", "[session_recording]\nscope=some\ngroups=ops,wheel\n", "dave", false, "not in users or groups"},
		{"some: unknown group matches nobody", "[session_recording]\nscope=some\ngroups=nosuch\n", "alice", false, "not in users or groups"},
		{"some: empty lists", "[session_recording]\nscope=some\nusers=\ngroups=\n", "alice", false, "scope=some; not in users or groups"},
		{"some: exclusions ignored", "[session_recording]\nscope=some\nusers=alice\nexclude_users=alice\n", "alice", true, "listed in users"},
		{"all: everybody", "[session_recording]\nscope=all\n", "root", true, "scope=all; not excluded"},
		{"all: users/groups ignored", "[session_recording]\nscope=all\nusers=alice\ngroups=wheel\n", "bob", true, "scope=all; not excluded"},
		{"all: excluded user", "[session_recording]\nscope=all\nexclude_users=root\n", "root", false, "scope=all; excluded by exclude_users in t.conf:3"},
		{"all: excluded group primary", "[session_recording]\nscope=all\nexclude_groups=ops\n", "carol", false, "scope=all; excluded by exclude_groups in t.conf:3: member of group ops (primary group)"},
		{"all: excluded group listed", "[session_recording]\nscope=all\nexclude_groups=audit\n", "eve", false, "member of group audit (listed member)"},
		{"all: empty exclusions", "[session_recording]\nscope=all\nexclude_users=\nexclude_groups=\n", "alice", true, "scope=all; not excluded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("t.conf", []byte(tt.conf))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decide(&c.Policy, d, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if got.Record != tt.record || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("Decide(%s) = %v %q, want %v %q", tt.user, got.Record, got.Reason, tt.record, tt.reason)
			}
		})
	}
}

func TestDecideUnknownUser(t *testing.T) {
	c := config.Default()
	_, err := Decide(&c.Policy, testDir(t), "zed")
	if !errors.Is(err, ErrNoSuchUser) || !strings.Contains(err.Error(), `"zed"`) {
		t.Fatalf("err = %v", err)
	}
	// NIS compat lines are not users.
	if _, err := Decide(&c.Policy, testDir(t), "+nisuser"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigErrorsReachPolicy(t *testing.T) {
	for _, text := range []string{
		"[session_recording]\nscope = most\n",
		"[session_recording]\nscope = some\nuser = alice\n",
	} {
		if _, err := config.Parse("t.conf", []byte(text)); err == nil {
			t.Errorf("%q: no error", text)
		}
	}
}

func TestDropinOverride(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "recd.conf")
	os.WriteFile(main, []byte("[session_recording]\nscope = some\nusers = alice\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "10-ops.conf"), []byte("[session_recording]\nscope = all\nexclude_users = alice\n"), 0o644)
	c, err := config.Load(main, filepath.Join(dir, "conf.d"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decide(&c.Policy, testDir(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := "scope=all; excluded by exclude_users in " + filepath.Join(dir, "conf.d", "10-ops.conf") + ":3"
	if got.Record || got.Reason != want {
		t.Errorf("got %+v, want %q", got, want)
	}
}

func TestFilesDirectory(t *testing.T) {
	d := testDir(t)
	if g, err := d.LookupGroupByGID(10); err != nil || g.Name != "wheel" || len(g.Members) != 1 {
		t.Errorf("wheel: %+v %v", g, err)
	}
	if _, err := d.LookupGroupByGID(9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("gid 9999: %v", err)
	}
	if _, err := d.LookupGroup("bad"); !errors.Is(err, ErrNotFound) {
		t.Errorf("bad: %v", err)
	}
	if _, err := (&FilesDirectory{PasswdPath: "/nonexistent"}).LookupUser("x"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("missing passwd: %v", err)
	}
}

// The in-memory directory answers as the files directory does for the same entries,
// including first-entry-wins for duplicate names and GIDs.
func TestMemoryDirectoryMatchesFiles(t *testing.T) {
	dir := t.TempDir()
	passwd := "alice:x:1000:1000::/h:/bin/sh\nalice:x:2000:2000::/h:/bin/sh\nbob:x:1001:10::/h:/bin/sh\n"
	group := "users:x:1000:\nwheel:x:10:alice\nwheel:x:11:bob\nother:x:10:\n"
	files := &FilesDirectory{PasswdPath: filepath.Join(dir, "passwd"), GroupPath: filepath.Join(dir, "group")}
	if err := os.WriteFile(files.PasswdPath, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.GroupPath, []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	mem := NewMemoryDirectory(
		[]User{{"alice", 1000, 1000}, {"alice", 2000, 2000}, {"bob", 1001, 10}},
		[]Group{{"users", 1000, nil}, {"wheel", 10, []string{"alice"}}, {"wheel", 11, []string{"bob"}}, {"other", 10, nil}})
	for _, name := range []string{"alice", "bob", "zed"} {
		fu, ferr := files.LookupUser(name)
		mu, merr := mem.LookupUser(name)
		if fu != mu || errors.Is(ferr, ErrNotFound) != errors.Is(merr, ErrNotFound) {
			t.Errorf("user %s: files %v %v, memory %v %v", name, fu, ferr, mu, merr)
		}
	}
	for _, name := range []string{"wheel", "users", "nope"} {
		fg, _ := files.LookupGroup(name)
		mg, _ := mem.LookupGroup(name)
		if fmt.Sprint(fg) != fmt.Sprint(mg) {
			t.Errorf("group %s: files %v, memory %v", name, fg, mg)
		}
	}
	for _, gid := range []uint32{10, 11, 1000, 5} {
		fg, _ := files.LookupGroupByGID(gid)
		mg, _ := mem.LookupGroupByGID(gid)
		if fmt.Sprint(fg) != fmt.Sprint(mg) {
			t.Errorf("gid %d: files %v, memory %v", gid, fg, mg)
		}
	}
}
