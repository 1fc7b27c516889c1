package integration

import (
	"bytes"
	"strings"
	"testing"

	"github.com/recd-dev/recd/tests/testhost"
)

// On Debian the PAM line goes in through pam-auth-update, with the profile make install
// ships: enabling adds pam_recd to common-session, removing restores the file.
func TestPamAuthUpdateProfile(t *testing.T) {
	t.Parallel()
	h := testhost.New(t)
	h.Install()
	if !h.Exists("/usr/share/pam-configs/recd") {
		t.Fatal("make install did not ship /usr/share/pam-configs/recd")
	}
	before := h.ReadFile("/etc/pam.d/common-session")
	h.MustRun(t, "env", "DEBIAN_FRONTEND=noninteractive", "pam-auth-update", "--enable", "recd")
	enabled := string(h.ReadFile("/etc/pam.d/common-session"))
	if !strings.Contains(enabled, "session\toptional\t\t\tpam_recd.so") {
		t.Fatalf("common-session after pam-auth-update --enable recd:\n%s", enabled)
	}
	h.MustRun(t, "env", "DEBIAN_FRONTEND=noninteractive", "pam-auth-update", "--remove", "recd")
	if after := h.ReadFile("/etc/pam.d/common-session"); !bytes.Equal(after, before) {
		t.Fatalf("common-session not restored by --remove:\n%s", after)
	}
}
