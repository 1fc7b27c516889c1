package cli

import (
	"flag"
	"fmt"

	"github.com/recd-dev/recd/internal/recording"
)

const verifyHelp = "Checks that each recording is whole and authentic, and prints what is wrong and where\n" +
	"(the entry's RECD_ENTRY, tlog message id, time and journal cursor).\n\n" +
	"For a recording made by recd it checks that:\n" +
	"  - every entry naming the recording was written by recd's journal writer, which journald\n" +
	"    identifies as _UID=0 and _COMM=tlog-rec-sessio; an entry with the recording's\n" +
	"    TLOG_REC or RECD_REC written by anyone else (logger, systemd-cat, a renamed program)\n" +
	"    is reported as forged and is not part of the chain;\n" +
	"  - RECD_ENTRY runs 1, 2, 3… in journal order, none missing, repeated or out of order;\n" +
	"  - the hash chain holds: each RECD_CHAIN is SHA-256 of the previous one and the entry's\n" +
	"    RECD_*, TLOG_*, MESSAGE and MESSAGE_ID fields, byte for byte (docs/recording-format.md),\n" +
	"    so an altered, removed, inserted or reordered entry breaks it from that entry on;\n" +
	"  - it starts with the open entry and ends with the close entry, whose RECD_MESSAGES\n" +
	"    matches the messages present (no close entry: the recording is live, or recd\n" +
	"    stopped before closing it, or the entry was removed);\n" +
	"  - the tlog message ids run 1, 2, 3… and every message decodes as tlog-play reads it.\n\n" +
	"A recording made by tlog (tlog-rec, tlog-rec-session) carries no hash chain: anyone who\n" +
	"can write to the journal could have written it, so it is reported UNVERIFIABLE; only its\n" +
	"message ids and messages are checked.\n\n" +
	sourceHelp + "\n" + accessHelp + "\n" +
	"Exit status: 0 every recording is verified and intact, 1 a problem was found or a\n" +
	"recording is unverifiable (made by tlog), 2 usage error or a recording was not found,\n" +
	"4 permission denied. Suitable for cron and scripts.\n\n" +
	"Examples:\n" +
	"  recctl verify 6211b985bd1e49908726bd24cd514099-600-b0b9\n" +
	"  recctl list --since yesterday --json | jq -r '.[].id' | xargs recctl verify"

func (a *App) cmdVerify(fs *flag.FlagSet, args []string) int {
	ids, code, ok := a.parseArgs("verify", fs, args)
	if !ok {
		return code
	}
	if len(ids) == 0 {
		return a.errorf("verify: name at least one recording (recctl verify ID...)")
	}
	r, err := a.readerAccess()
	if err != nil {
		return a.errorf("verify: %v", err)
	}
	src := a.source(fs)
	ctx, cancel := signalContext()
	defer cancel()
	status := ExitOK
	for _, id := range ids {
		rec, code := a.loadRecording(ctx, "verify", r, src, id)
		if rec == nil {
			if code > status || status == ExitNegative {
				status = code
			}
			continue
		}
		rep := recording.Verify(rec)
		fmt.Fprint(a.Stdout, rep.Text())
		if !rep.OK() && status == ExitOK {
			status = ExitNegative
		}
	}
	return status
}
