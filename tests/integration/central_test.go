package integration

import (
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/journal/journaltest"
	"github.com/recd-dev/recd/tests/testhost"
)

// Central collection (docs/central-collection.md): two hosts, each in its own network
// namespace with its own host name and machine id, send their journals with
// systemd-journal-upload over HTTP to systemd-journal-remote on a third host, and recctl
// lists and plays both hosts' recordings there from /var/log/journal/remote. web1 records
// with Debian's tlog-rec; web2 with tlog-rec and with recd (recd-session through su), whose
// hash chain must survive the transport (recctl verify on the central host).
func TestCentralCollection(t *testing.T) {
	t.Parallel()
	remote := journaltest.RemotePath()
	if remote == "" {
		t.Fatal("systemd-journal-remote is not installed (make deps installs it)")
	}
	upload := strings.TrimSuffix(remote, "-remote") + "-upload"
	if _, err := exec.LookPath(upload); err != nil {
		t.Fatalf("%s is not installed (make deps installs systemd-journal-remote): %v", upload, err)
	}
	for _, p := range []string{"tlog-rec", "script"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed (make deps installs tlog and bsdutils)", p)
		}
	}
	logs := testhost.New(t, testhost.WithHostname("logs"), testhost.WithMachineID("10c510c510c510c510c510c510c510c5"))
	web1 := testhost.New(t, testhost.WithHostname("web1"), testhost.WithMachineID("0eb10eb10eb10eb10eb10eb10eb10eb1"))
	web2 := testhost.New(t, testhost.WithHostname("web2"), testhost.WithMachineID("0eb20eb20eb20eb20eb20eb20eb20eb2"))
	net := testhost.Connect(t, logs, web1, web2)
	for _, h := range []*testhost.Host{logs, web1, web2} {
		h.StartJournald()
	}

	// The central host: systemd-journal-remote as systemd-journal-remote.service runs it,
	// with plain HTTP on the address (a lab setup; docs/central-collection.md has TLS).
	const store = "/var/log/journal/remote"
	logs.MustRun(t, "mkdir", "-p", store)
	listen := net.Addr(logs) + ":19532"
	jr := logs.Start("journal-remote", remote, "--listen-http="+listen, "--output="+store+"/", "--split-mode=host")
	waitUntil(t, 10*time.Second, "systemd-journal-remote listening on "+listen, func() bool {
		if ok, err := jr.Exited(); ok {
			t.Fatalf("systemd-journal-remote exited: %v\n%s", err, jr.Log())
		}
		out, _ := logs.Run("ss", "-Hltn", "sport = :19532")
		return strings.Contains(string(out), listen) || pause()
	})

	// web2 also records with recd: recd-session as alice's shell (NSS), pam_recd in su.
	web2.Install()
	web2.AddUser("alice", testhost.UserShell("/bin/bash"))
	web2.RecdFirstInPasswd()
	web2.AddPAMRecd("su")
	web2.WriteFile("/etc/recd/recd.conf", []byte("[session_recording]\nscope = some\nusers = alice\n[recorder]\nrecorder = builtin\n"), 0o644)
	web2.MustRun(t, "recctl", "reload")
	web2.Start("recd", "/usr/sbin/recd")
	waitUntil(t, 10*time.Second, "recd answers on web2", func() bool {
		_, err := web2.Run("recctl", "status")
		return err == nil
	})

	// Each source host uploads its journal as systemd-journal-upload.service does: it
	// follows the journal and keeps the cursor of the last entry the server took.
	for _, h := range []*testhost.Host{web1, web2} {
		h.MustRun(t, "mkdir", "-p", "/var/lib/systemd/journal-upload")
		h.Start("journal-upload", upload, "--url=http://"+listen, "--save-state")
	}

	// Recordings, made on a terminal (script(1)) as an interactive session would be. tlog
	// writes a message when its latency timer fires or as it exits; journald reads the
	// sender's _COMM from /proc when the message arrives, so a message sent by a tlog-rec
	// that has already exited lacks _COMM, and recctl (like Cockpit) does not take it for
	// tlog's. --latency=1 and the sleep make tlog-rec send while it is still running.
	tlogRec := func(h *testhost.Host, text string) <-chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := h.Run("script", "-qec", "tlog-rec --latency=1 --writer=journal sh -c 'echo "+text+"; sleep 2'", "/dev/null")
			ch <- err
		}()
		return ch
	}
	rec1, rec2 := tlogRec(web1, "hello-from-web1"), tlogRec(web2, "hello-from-web2")
	for _, ch := range []<-chan error{rec1, rec2} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	out := web2.MustRun(t, "script", "-qec", "su - alice -c 'echo hello-recd-$((6*7))-from-web2'", "/dev/null")
	if !strings.Contains(out, "hello-recd-42-from-web2") {
		t.Fatalf("su - alice on web2 printed:\n%s", out)
	}
	var recdID string
	waitUntil(t, 15*time.Second, "recd's close entry on web2", func() bool {
		for _, e := range web2.JournalJSON("RECD_EVENT=close") {
			recdID = testhost.Field(e, "RECD_REC")
		}
		return recdID != "" || pause()
	})

	// On the central host: recctl list --directory sees both hosts' recordings.
	logs.Install()
	type row struct{ ID, Recorder, User, Host, Status string }
	type expect struct{ host, user, status, text string }
	want := map[string]expect{}
	var rows []row
	waitUntil(t, 30*time.Second, "both hosts' recordings in recctl list on logs", func() bool {
		out, err := logs.Run("recctl", "list", "--directory", store, "--json")
		if err != nil {
			return pause()
		}
		rows = nil
		if err := json.Unmarshal(out, &rows); err != nil {
			t.Fatalf("recctl list --json: %v\n%s", err, out)
		}
		n := map[string]int{}
		for _, r := range rows {
			n[r.Host+"/"+r.Recorder]++
		}
		return n["web1/tlog"] == 1 && n["web2/tlog"] == 1 && n["web2/recd"] == 1 || pause()
	})
	for _, r := range rows {
		switch {
		case r.Host == "web1" && r.Recorder == "tlog":
			want[r.ID] = expect{"web1", "root", "unverified", "hello-from-web1"}
		case r.Host == "web2" && r.Recorder == "tlog":
			want[r.ID] = expect{"web2", "root", "unverified", "hello-from-web2"}
		case r.Host == "web2" && r.Recorder == "recd":
			if r.ID != recdID {
				t.Errorf("recctl list shows recd's recording as %s, web2's journal as %s", r.ID, recdID)
			}
			want[r.ID] = expect{"web2", "alice", "complete", "hello-recd-42-from-web2"}
		default:
			t.Errorf("unexpected recording in recctl list: %+v", r)
		}
	}
	for _, r := range rows {
		w, ok := want[r.ID]
		if !ok {
			continue
		}
		if r.User != w.user || r.Status != w.status {
			t.Errorf("recording %s of %s: user %q status %q, want %q %q", r.ID, w.host, r.User, r.Status, w.user, w.status)
		}
		played := logs.MustRun(t, "recctl", "play", "--raw", "--directory", store, r.ID)
		if r.ID == recdID {
			// Byte for byte what recctl plays from web2's own journal.
			if local := web2.MustRun(t, "recctl", "play", "--raw", r.ID); local != played {
				t.Errorf("recording %s plays differently on logs and on web2:\n%q\n%q", r.ID, played, local)
			}
		}
		if !strings.Contains(played, w.text) {
			t.Errorf("recctl play --raw --directory %s %s (%s, %s) lacks %q:\n%q", store, r.ID, w.host, r.Recorder, w.text, played)
		}
		for _, other := range want {
			if other.text != w.text && strings.Contains(played, other.text) {
				t.Errorf("recctl play %s (%s) also plays %q", r.ID, w.host, other.text)
			}
		}
	}
	// --host selects one host's recordings.
	out = logs.MustRun(t, "recctl", "list", "--directory", store, "--host", "web1", "--json")
	var only []row
	if err := json.Unmarshal([]byte(out), &only); err != nil || len(only) != 1 || only[0].Host != "web1" {
		t.Errorf("recctl list --host web1: %v\n%s", err, out)
	}
	// recd's hash chain and trusted fields survive journal-upload → journal-remote.
	if out, err := logs.Run("recctl", "verify", "--directory", store, recdID); err != nil {
		t.Errorf("recctl verify on the central host: %v", err)
	} else {
		t.Logf("recctl verify --directory %s %s:\n%s", store, recdID, out)
	}

	// --split-mode=host: one file per sending host, named after the address the upload came
	// from (systemd-journal-remote does not resolve it), whatever _HOSTNAME the entries claim.
	files, err := logs.Run("ls", store)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(string(files))
	sort.Strings(names)
	t.Logf("files in %s on logs: %v", store, names)
	for _, h := range []*testhost.Host{web1, web2} {
		name := "remote-" + net.Addr(h) + ".journal"
		if i := sort.SearchStrings(names, name); i == len(names) || names[i] != name {
			t.Errorf("no %s (from %s) in %s: %v", name, h.Hostname(), store, names)
			continue
		}
		out := logs.MustRun(t, "recctl", "list", "--file", store+"/"+name, "--json")
		var from []row
		if err := json.Unmarshal([]byte(out), &from); err != nil {
			t.Fatalf("recctl list --file %s --json: %v\n%s", name, err, out)
		}
		for _, r := range from {
			if r.Host != h.Hostname() {
				t.Errorf("recctl list --file %s shows a recording of %s", name, r.Host)
			}
		}
	}
	// Each uploader saved the cursor of the last entry it sent (--save-state), where it
	// resumes after a restart.
	for _, h := range []*testhost.Host{web1, web2} {
		state := string(h.ReadFile("/var/lib/systemd/journal-upload/state"))
		if !strings.Contains(state, "LAST_CURSOR=") {
			t.Errorf("journal-upload state on %s: %q, want LAST_CURSOR=", h.Hostname(), state)
		}
	}
}

// pause sleeps between polls that run programs (waitUntil itself polls every 5 ms) and
// returns false, for `return done || pause()`.
func pause() bool {
	time.Sleep(200 * time.Millisecond)
	return false
}
