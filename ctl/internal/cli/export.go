package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/recd-dev/recd/internal/recording"
)

const exportHelp = "Writes a recording in another format, to standard output or to FILE.\n\n" +
	"Formats:\n" +
	"  asciicast  asciicast v2 (asciinema and its web player): a header with the size of the\n" +
	"             first window (80x24 when none was recorded), then [time, \"o\", text] for\n" +
	"             output, [time, \"i\", text] for recorded input and [time, \"r\", \"COLSxROWS\"]\n" +
	"             for window changes. Bytes that are not UTF-8 become U+FFFD.\n" +
	"             Play it with: asciinema play FILE\n" +
	"  text       the output as plain text: escape sequences and control characters removed,\n" +
	"             CR LF turned into LF. For reading, grep and diff.\n" +
	"  tlog       the tlog JSON messages, one per line, byte for byte as recorded.\n" +
	"             Play it with: tlog-play -r file -i FILE\n\n" +
	"Options:\n" +
	"  --format FORMAT   asciicast, text or tlog (required)\n" +
	"  -o FILE           write to FILE (created with mode 0600, replaced only when the export\n" +
	"                    succeeds) instead of standard output\n" +
	"  --lax             accept message id gaps (messages dropped by a rate limit), as\n" +
	"                    tlog-play --lax does\n\n" +
	sourceHelp + "\n" + accessHelp + "\n" +
	"Exit status: 0 written, 1 the recording has a message that cannot be decoded (nothing is\n" +
	"written), 2 usage error or recording not found, 4 permission denied.\n\n" +
	"Examples:\n" +
	"  recctl export 6211b985bd1e49908726bd24cd514099-600-b0b9 --format asciicast -o s.cast\n" +
	"  recctl export ID --format text | less\n" +
	"  recctl export ID --format tlog -o s.json && tlog-play -r file -i s.json"

func exportSetup(fs *flag.FlagSet) {
	fs.String("format", "", "")
	fs.String("o", "", "")
	fs.Bool("lax", false, "")
	sourceFlags(fs)
}

func (a *App) cmdExport(fs *flag.FlagSet, args []string) int {
	ids, code, ok := a.parseArgs("export", fs, args)
	if !ok {
		return code
	}
	if len(ids) != 1 {
		return a.errorf("export: name exactly one recording (recctl export ID --format FORMAT)")
	}
	format := flagString(fs, "format")
	if format == "" {
		return a.errorf("export: --format is required (%s)", strings.Join(recording.Formats, ", "))
	}
	known := false
	for _, f := range recording.Formats {
		known = known || f == format
	}
	if !known {
		return a.errorf("export: unknown format %q (expected %s)", format, strings.Join(recording.Formats, ", "))
	}
	r, err := a.readerAccess()
	if err != nil {
		return a.errorf("export: %v", err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	rec, code := a.loadRecording(ctx, "export", r, a.source(fs), ids[0])
	if rec == nil {
		return code
	}
	var out bytes.Buffer
	switch format {
	case recording.FormatTlog:
		err = recording.WriteTlog(&out, rec)
	default:
		pkts, derr := rec.Decode(flagBool(fs, "lax"))
		if derr != nil {
			fmt.Fprintf(a.Stderr, "recctl: export: %v\n", derr)
			return ExitNegative
		}
		if format == recording.FormatText {
			err = recording.WriteText(&out, pkts)
		} else {
			err = recording.WriteAsciicast(&out, rec.Summary(), pkts)
		}
	}
	if err != nil {
		return a.errorf("export: %v", err)
	}
	path := flagString(fs, "o")
	if path == "" || path == "-" {
		if _, err := a.Stdout.Write(out.Bytes()); err != nil {
			return a.errorf("export: %v", err)
		}
		return ExitOK
	}
	if err := writeFileAtomic(path, out.Bytes()); err != nil {
		return a.errorf("export: %v", err)
	}
	fmt.Fprintf(a.Stderr, "recctl: export: wrote %s (%s, %d bytes)\n", path, format, out.Len())
	return ExitOK
}

// writeFileAtomic writes data to a temporary file beside path and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
