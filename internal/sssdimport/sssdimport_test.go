package sssdimport

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/recd-dev/recd/internal/config"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "sssd.conf")
	os.WriteFile(main, []byte(`[sssd]
services = nss, pam
domains = example.com

[domain/example.com]
id_provider = ldap
ldap_uri = ldap://x:389 ; not a comment here
weird line without delimiter

[session_recording]
scope=Some
users = alice,, bob
groups = wheel
exclude_users = root
`), 0o600)
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf.d", "20-rec.conf"), []byte("[session_recording]\ngroups = ops, wheel\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "conf.d", ".hidden.conf"), []byte("[session_recording]\nscope = all\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "conf.d", "x.txt"), []byte("[session_recording]\nscope = all\n"), 0o600)
	files, err := DefaultFiles(main, filepath.Join(dir, "conf.d"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	p, err := Read(files)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scope != config.ScopeSome || !reflect.DeepEqual(p.Lists["users"], []string{"alice", "bob"}) ||
		!reflect.DeepEqual(p.Lists["groups"], []string{"ops", "wheel"}) || !reflect.DeepEqual(p.Lists["exclude_users"], []string{"root"}) {
		t.Errorf("policy %+v", p)
	}
	if got := p.Sources["scope"].String(); got != main+":11" {
		t.Errorf("scope source %s", got)
	}
	if got := p.Sources["groups"].String(); got != filepath.Join(dir, "conf.d", "20-rec.conf")+":2" {
		t.Errorf("groups source %s", got)
	}
	if len(p.Warnings) != 1 {
		t.Errorf("warnings %q", p.Warnings)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[session_recording]\nscope = sometimes\n"), 0o600)
	for _, files := range [][]string{{bad}, {filepath.Join(dir, "missing.conf")}} {
		if _, err := Read(files); err == nil {
			t.Errorf("%v: no error", files)
		}
	}
}
