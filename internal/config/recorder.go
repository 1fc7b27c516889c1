package config

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// Recorder choices.
const (
	RecorderBuiltin = "builtin" // recd-session
	RecorderTlog    = "tlog"    // tlog-rec-session
)

// LimitAction is what happens to output above the rate limit.
type LimitAction string

// The limit actions (as tlog's limit.action).
const (
	LimitPass  LimitAction = "pass"
	LimitDelay LimitAction = "delay"
	LimitDrop  LimitAction = "drop"
)

// OnUnavailable is what a login does when recd cannot record it.
type OnUnavailable string

// The on_unavailable choices.
const (
	UnavailableAllow OnUnavailable = "allow" // log in unrecorded
	UnavailableDeny  OnUnavailable = "deny"  // refuse the session
)

// RecordCommands says how much of the commands run is recorded.
type RecordCommands string

// The record_commands choices.
const (
	CommandsMetadata RecordCommands = "metadata"
	CommandsFull     RecordCommands = "full"
	CommandsNone     RecordCommands = "none"
)

// Recorder is the [recorder] section: how sessions are recorded.
type Recorder struct {
	// Recorder is RecorderBuiltin, RecorderTlog or an absolute path.
	Recorder string
	// Shell is the shell used when the user's real shell is unknown.
	Shell string
	// Notice is shown to the user when recording starts.
	Notice string
	// LogInput, LogOutput and LogWindow say what is recorded.
	LogInput, LogOutput, LogWindow bool
	// LimitRate (bytes/s) and LimitBurst (bytes) limit recorded output;
	// 0 means no limit. LimitAction says what happens above the limit.
	LimitRate, LimitBurst int64
	LimitAction           LimitAction
	// Payload is the maximum payload of one message, in bytes (≥ 32).
	Payload int
	// Latency is the maximum seconds recorded data is held (≥ 1).
	Latency int
	// Buffer is the recorder's buffer for data not yet acknowledged, in bytes.
	Buffer int64
	// OnUnavailable is what happens when recd cannot record a session.
	OnUnavailable OnUnavailable
	// RecordCommands says how commands are recorded.
	RecordCommands RecordCommands
	// Sources maps each key set by a file to where it was set.
	Sources map[string]Source
}

// DefaultNotice is the default [recorder] notice.
const DefaultNotice = "ATTENTION! Your session is being recorded!"

func defaultRecorder() Recorder {
	return Recorder{
		Recorder:       RecorderBuiltin,
		Shell:          "/bin/bash",
		Notice:         DefaultNotice,
		LogOutput:      true,
		LogWindow:      true,
		LimitRate:      16384,
		LimitBurst:     32768,
		LimitAction:    LimitPass,
		Payload:        2048,
		Latency:        10,
		Buffer:         8 << 20,
		OnUnavailable:  UnavailableAllow,
		RecordCommands: CommandsMetadata,
		Sources:        map[string]Source{},
	}
}

// RecorderKeys lists the keys of [recorder] in canonical order.
var RecorderKeys = []string{"recorder", "shell", "notice", "log_input", "log_output", "log_window",
	"limit_rate", "limit_burst", "limit_action", "payload", "latency", "buffer", "on_unavailable", "record_commands"}

func ok(f func(*Config)) (func(*Config), string, string) { return f, "", "" }

func boolKey(set func(*Recorder, bool)) keyDef {
	return keyDef{parse: func(raw string) (func(*Config), string, string) {
		b, err := ParseBool(raw)
		if err != nil {
			return nil, fmt.Sprintf("invalid boolean %q", raw), "valid values: true, false, yes, no, 1, 0"
		}
		return ok(func(c *Config) { set(&c.Recorder, b) })
	}}
}

func intKey(minV int64, maxV int64, set func(*Recorder, int64)) keyDef {
	return keyDef{parse: func(raw string) (func(*Config), string, string) {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < minV || n > maxV {
			return nil, fmt.Sprintf("invalid value %q", raw), fmt.Sprintf("an integer from %d to %d", minV, maxV)
		}
		return ok(func(c *Config) { set(&c.Recorder, n) })
	}}
}

func enumKey(valid []string, set func(*Recorder, string)) keyDef {
	return keyDef{parse: func(raw string) (func(*Config), string, string) {
		v := strings.ToLower(raw)
		for _, x := range valid {
			if v == x {
				return ok(func(c *Config) { set(&c.Recorder, v) })
			}
		}
		return nil, fmt.Sprintf("invalid value %q", raw), "valid values: " + strings.Join(valid, ", ")
	}}
}

func absPath(raw string) string {
	if !filepath.IsAbs(raw) || hasControl(raw) {
		return fmt.Sprintf("invalid value %q", raw)
	}
	return ""
}

var recorderKeys = map[string]keyDef{
	"recorder": {parse: func(raw string) (func(*Config), string, string) {
		if raw != RecorderBuiltin && raw != RecorderTlog && absPath(raw) != "" {
			return nil, fmt.Sprintf("invalid value %q", raw), "valid values: builtin, tlog, or an absolute path"
		}
		return ok(func(c *Config) { c.Recorder.Recorder = raw })
	}},
	"shell": {parse: func(raw string) (func(*Config), string, string) {
		if msg := absPath(raw); msg != "" {
			return nil, msg, "an absolute path such as /bin/bash"
		}
		return ok(func(c *Config) { c.Recorder.Shell = raw })
	}},
	"notice": {parse: func(raw string) (func(*Config), string, string) {
		if hasControl(raw) {
			return nil, "contains a control character", ""
		}
		return ok(func(c *Config) { c.Recorder.Notice = raw })
	}},
	"log_input":    boolKey(func(r *Recorder, b bool) { r.LogInput = b }),
	"log_output":   boolKey(func(r *Recorder, b bool) { r.LogOutput = b }),
	"log_window":   boolKey(func(r *Recorder, b bool) { r.LogWindow = b }),
	"limit_rate":   intKey(0, math.MaxInt64, func(r *Recorder, n int64) { r.LimitRate = n }),
	"limit_burst":  intKey(0, math.MaxInt64, func(r *Recorder, n int64) { r.LimitBurst = n }),
	"limit_action": enumKey([]string{"pass", "delay", "drop"}, func(r *Recorder, v string) { r.LimitAction = LimitAction(v) }),
	"payload":      intKey(32, math.MaxInt32, func(r *Recorder, n int64) { r.Payload = int(n) }),
	"latency":      intKey(1, math.MaxInt32, func(r *Recorder, n int64) { r.Latency = int(n) }),
	"buffer": {parse: func(raw string) (func(*Config), string, string) {
		n, err := ParseSize(raw)
		if err != nil {
			return nil, fmt.Sprintf("invalid size %q", raw), "bytes, or a number with K, M, G, KiB, MiB or GiB, e.g. 8M"
		}
		return ok(func(c *Config) { c.Recorder.Buffer = n })
	}},
	"on_unavailable":  enumKey([]string{"allow", "deny"}, func(r *Recorder, v string) { r.OnUnavailable = OnUnavailable(v) }),
	"record_commands": enumKey([]string{"metadata", "full", "none"}, func(r *Recorder, v string) { r.RecordCommands = RecordCommands(v) }),
}

// ParseBool reads true/false/yes/no/1/0, case-insensitively.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q", v)
}

// ParseSize reads a size in bytes: a plain number, or a number followed by
// K, M, G (binary multiples, as KiB, MiB, GiB) with an optional "B" or
// "iB". Sizes are case-insensitive.
func ParseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q too large", v)
	}
	return n * mult, nil
}
