package confedit

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/recd-dev/recd/internal/config"
)

// A symlink (or a dangling one) planted at exactly the temporary name an edit uses is
// not followed: the edit goes on with a fresh random name and the targets stay untouched.
func TestHardeningConfeditTempSymlink(t *testing.T) {
	e := setup(t, sample)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	dir := filepath.Dir(e.Path)
	planted := filepath.Join(dir, ".recd.conf.planted.tmp")
	dangling := filepath.Join(dir, ".recd.conf.dangling.tmp")
	os.Symlink(victim, planted)
	os.Symlink(filepath.Join(dir, "created-through-symlink"), dangling)
	orig := tempName
	var mu sync.Mutex
	names := []string{planted, dangling}
	tempName = func(path string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(names) > 0 {
			n := names[0]
			names = names[1:]
			return n, nil
		}
		return orig(path)
	}
	defer func() { tempName = orig }()
	if _, err := e.Apply(SetScope(config.ScopeAll)); err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Fatal("the planted names were not tried")
	}
	if read(t, victim) != "keep" {
		t.Fatal("the symlink's target was written")
	}
	if _, err := os.Lstat(filepath.Join(dir, "created-through-symlink")); err == nil {
		t.Fatal("a dangling symlink was followed")
	}
	for _, p := range []string{planted, dangling} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s replaced or removed: %v", p, err)
		}
	}
	if !strings.Contains(read(t, e.Path), "scope = all") {
		t.Fatalf("edit lost:\n%s", read(t, e.Path))
	}
	if fi, _ := os.Stat(e.Path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the original 0640", fi.Mode().Perm())
	}
}

// An edit of a recd.conf that users other than root can change is refused with the fix;
// the file is not rewritten (it would keep its mode).
func TestHardeningConfeditUntrustedFile(t *testing.T) {
	e := setup(t, sample)
	os.Chmod(e.Path, 0o666)
	_, err := e.Apply(SetScope(config.ScopeAll))
	if err == nil || !strings.Contains(err.Error(), "chmod go-w "+e.Path) {
		t.Fatalf("edit of a world-writable file: %v", err)
	}
	if read(t, e.Path) != sample {
		t.Fatal("file changed")
	}
}
