package daemon

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// root.sock is root's alone: mode 0600, served to uid 0, closed at once for anyone else
// (even one who got in before the chmod), and it stays usable while another user floods
// recd.sock.
func TestHostileRootLane(t *testing.T) {
	_, sock, _ := hostileDaemon(t, func(g *guard) {})
	root := filepath.Join(filepath.Dir(sock), "root.sock")
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("root.sock: %v, want a socket of mode 0600", fi.Mode())
	}
	if err := askStatus(dialAs(t, root, 0)); err != nil {
		t.Fatalf("root on root.sock: %v", err)
	}
	c := dialAs(t, root, 1002)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("uid 1002 on root.sock: read %d, %v; want the connection closed", n, err)
	}
	// Fill recd.sock's backlog with connections nobody accepts yet; root's lane answers.
	for i := 0; i < 100; i++ {
		defer dialAs(t, sock, 1002).Close()
	}
	start := time.Now()
	if err := askStatus(dialAs(t, root, 0)); err != nil {
		t.Fatal(err)
	}
	t.Logf("root on root.sock during a flood of recd.sock: %v", time.Since(start))
}
