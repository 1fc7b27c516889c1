package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// procInfo is what recd reads about a process from /proc/<pid>/stat.
type procInfo struct {
	// PPID is the parent's PID (0 for init's parent).
	PPID int32
	// Start is the start time in clock ticks after boot (field 22): with the PID it names
	// one process for the whole boot, as tlog's recording IDs do.
	Start uint64
	// TTY is the controlling terminal's device number (field 7), 0 without one.
	TTY uint32
}

// readProc parses /proc/<pid>/stat. The command name (field 2) may hold spaces and
// parentheses, so the fields are counted from the last ')'.
func readProc(pid int32) (procInfo, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (procInfo, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procInfo{}, errors.New("malformed /proc stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return procInfo{}, fmt.Errorf("malformed /proc stat: %d fields after the name", len(f))
	}
	ppid, err1 := strconv.ParseInt(f[1], 10, 32)
	tty, err2 := strconv.ParseInt(f[4], 10, 64)
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procInfo{}, fmt.Errorf("malformed /proc stat: %w", err)
	}
	return procInfo{PPID: int32(ppid), Start: start, TTY: uint32(tty)}, nil
}

// ttyName turns a tty_nr into a device path for the common cases (pseudo-terminals and
// virtual consoles), "" otherwise.
func ttyName(nr uint32) string {
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	switch {
	case nr == 0:
		return ""
	case major >= 136 && major <= 143:
		return fmt.Sprintf("/dev/pts/%d", (major-136)*256+minor)
	case major == 4 && minor < 64:
		return fmt.Sprintf("/dev/tty%d", minor)
	}
	return ""
}

// readBootID returns /proc/sys/kernel/random/boot_id without its dashes, as tlog puts it
// in recording IDs.
func readBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	id := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	if len(id) != 32 {
		return "", fmt.Errorf("unexpected boot id %q", id)
	}
	return id, nil
}

// recID is tlog's recording ID (tlog-format.md §1.6): boot ID, recorder PID and the
// recorder's start time, the last two in lowercase hex.
func recID(bootID string, pid int32, start uint64) string {
	return fmt.Sprintf("%s-%x-%x", bootID, pid, start)
}

// lookupName returns the name of the user with uid.
func lookupName(uid uint32) (string, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// maxAncestry bounds the walk up the process tree.
const maxAncestry = 128

// ancestors returns pid's ancestors (parent first) with their start times, as far as
// /proc shows them; an unreadable entry (a process that just exited) ends the walk.
func (d *Daemon) ancestors(pid int32) []procRef {
	var out []procRef
	p, err := d.proc(pid)
	for err == nil && p.PPID > 0 && len(out) < maxAncestry {
		pp, perr := d.proc(p.PPID)
		if perr != nil {
			break
		}
		out = append(out, procRef{pid: p.PPID, start: pp.Start})
		p, err = pp, nil
	}
	return out
}

// procRef names a process for the whole boot.
type procRef struct {
	pid   int32
	start uint64
}
