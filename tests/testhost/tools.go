package testhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
)

// BuildTool builds the test program tests/cmd/<name> (static Go) into the repository's
// build/testbin directory, which every test host sees at the same path, and returns that
// path. Each tool is built once per test binary.
func BuildTool(t T, name string) string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolPaths[name]; ok {
		return p
	}
	repo, err := RepoRoot()
	if err != nil {
		t.Fatalf("testhost: %v", err)
	}
	out := filepath.Join(repo, "build", "testbin", name)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-o", out, "./tests/cmd/"+name)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testhost: building tests/cmd/%s: %v\n%s", name, err, b)
	}
	toolPaths[name] = out
	return out
}
