package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Format writes the keys that files set (those with a Source) as one INI
// text, in canonical order. Parsing the result gives the same values.
func (c *Config) Format() []byte {
	var b strings.Builder
	section := func(name string, keys []string, sources map[string]Source, value func(string) string) {
		var any bool
		for _, k := range keys {
			if _, set := sources[k]; !set {
				continue
			}
			if !any {
				if b.Len() > 0 {
					b.WriteString("\n")
				}
				fmt.Fprintf(&b, "[%s]\n", name)
				any = true
			}
			if v := value(k); v == "" {
				fmt.Fprintf(&b, "%s =\n", k)
			} else {
				fmt.Fprintf(&b, "%s = %s\n", k, v)
			}
		}
	}
	p := &c.Policy
	section(SectionSessionRecording, PolicyKeys, p.Sources, func(k string) string {
		if k == KeyScope {
			return p.Scope.String()
		}
		return strings.Join(p.List(k), ", ")
	})
	r := &c.Recorder
	section(SectionRecorder, RecorderKeys, r.Sources, func(k string) string {
		switch k {
		case "recorder":
			return r.Recorder
		case "shell":
			return r.Shell
		case "notice":
			return r.Notice
		case "log_input":
			return strconv.FormatBool(r.LogInput)
		case "log_output":
			return strconv.FormatBool(r.LogOutput)
		case "log_window":
			return strconv.FormatBool(r.LogWindow)
		case "limit_rate":
			return strconv.FormatInt(r.LimitRate, 10)
		case "limit_burst":
			return strconv.FormatInt(r.LimitBurst, 10)
		case "limit_action":
			return string(r.LimitAction)
		case "payload":
			return strconv.Itoa(r.Payload)
		case "latency":
			return strconv.Itoa(r.Latency)
		case "buffer":
			return strconv.FormatInt(r.Buffer, 10)
		case "on_unavailable":
			return string(r.OnUnavailable)
		case "record_commands":
			return string(r.RecordCommands)
		}
		return ""
	})
	section(SectionAccess, []string{"auditors"}, c.Access.Sources, func(string) string { return c.Access.Auditors })
	return []byte(b.String())
}
