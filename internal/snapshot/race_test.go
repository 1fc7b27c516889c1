package snapshot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func raceSnapshot(i int) *Snapshot {
	return &Snapshot{Rules: Rules{Scope: ScopeSome, Users: []string{fmt.Sprintf("user%d", i)}, Recorder: "/usr/bin/recd-session"},
		Entries: []Entry{{Name: fmt.Sprintf("user%d", i), Passwd: "x", UID: uint32(1000 + i), GID: 100, Dir: "/", Shell: "/bin/sh", Record: true}}}
}

// plantAt makes tempName return the planted names first (then random ones): a symlink at
// exactly the path Write tries must not be followed, and Write must go on with a fresh name.
func plantAt(t *testing.T, names ...string) {
	t.Helper()
	orig := tempName
	var mu sync.Mutex
	tempName = func(dir, base string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(names) > 0 {
			n := names[0]
			names = names[1:]
			return n, nil
		}
		return orig(dir, base)
	}
	t.Cleanup(func() { tempName = orig })
}

func TestHardeningSnapshotTempSymlink(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "policy")
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Symlinks at the next temporary name, at the names the old code used
	// (.policy.tmp-PID-N) and a dangling one: none is followed, none is replaced.
	planted := []string{filepath.Join(d, ".policy.tmp-planted")}
	for i := 0; i < 3; i++ {
		planted = append(planted, filepath.Join(d, fmt.Sprintf(".policy.tmp-%d-%d", os.Getpid(), i)))
	}
	dangling := filepath.Join(d, ".policy.tmp-dangling")
	for _, p := range planted {
		if err := os.Symlink(victim, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(d, "created-through-symlink"), dangling); err != nil {
		t.Fatal(err)
	}
	plantAt(t, append(planted, dangling)...)
	if err := Write(path, raceSnapshot(1)); err != nil {
		t.Fatalf("Write gave up on planted names: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(d, "created-through-symlink")); err == nil {
		t.Fatal("a dangling symlink at the temporary name was followed")
	}
	for _, p := range append(planted, dangling) {
		if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s: replaced or removed (%v)", p, err)
		}
	}
	if s, err := Read(path); err != nil || s.Rules.Users[0] != "user1" {
		t.Fatalf("snapshot: %+v %v", s, err)
	}
	// A symlink planted at the snapshot's own path is replaced, not followed.
	os.Remove(path)
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, raceSnapshot(2)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("the target of a symlink at the snapshot's path was written: %q", b)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the snapshot is not a regular file: %v %v", fi, err)
	}
	// Names are random: symlinks at every name a writer could predict (the old
	// .policy.tmp-PID-N, N = 0…109, more than the old 100 tries) do not stop it.
	for i := 3; i < 110; i++ {
		if err := os.Symlink(victim, filepath.Join(d, fmt.Sprintf(".policy.tmp-%d-%d", os.Getpid(), i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(path, raceSnapshot(3)); err != nil {
		t.Fatalf("predictable names planted: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim written: %q", b)
	}
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		n, err := tempName(d, "policy")
		if err != nil || seen[n] {
			t.Fatalf("temporary name %q repeats (%v)", n, err)
		}
		seen[n] = true
	}
}

// Concurrent writers, in goroutines and in processes: the snapshot is always one of the
// written ones, whole, and no temporary file is left.
func TestHardeningSnapshotConcurrentWriters(t *testing.T) {
	d := t.TempDir()
	path := filepath.Join(d, "policy")
	if err := Write(path, raceSnapshot(0)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := Read(path); err != nil {
				readErr <- err
				return
			}
		}
	}()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	for i := 0; i < 4; i++ {
		cmd := exec.Command(self, "-test.run=^TestHardeningSnapshotWriterProcess$")
		cmd.Env = append(os.Environ(), "SNAPSHOT_RACE_PATH="+path, "SNAPSHOT_RACE_N="+strconv.Itoa(100+i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 1; g <= 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := Write(path, raceSnapshot(g)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	close(stop)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("a reader saw a broken snapshot during the writes: %v", err)
	}
	s, err := Read(path)
	if err != nil || !strings.HasPrefix(s.Rules.Users[0], "user") {
		t.Fatalf("final snapshot: %+v %v", s, err)
	}
	ents, _ := os.ReadDir(d)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("left behind: %v", names)
	}
}

// TestHardeningSnapshotWriterProcess is a writer process of the test above.
func TestHardeningSnapshotWriterProcess(t *testing.T) {
	path := os.Getenv("SNAPSHOT_RACE_PATH")
	if path == "" {
		t.Skip("helper process")
	}
	n, _ := strconv.Atoi(os.Getenv("SNAPSHOT_RACE_N"))
	for i := 0; i < 50; i++ {
		if err := Write(path, raceSnapshot(n)); err != nil {
			t.Fatal(err)
		}
	}
}
