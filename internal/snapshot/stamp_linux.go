package snapshot

import (
	"os"
	"syscall"
)

func stampOf(st *syscall.Stat_t) Stamp {
	return Stamp{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Sec: int64(st.Mtim.Sec),
		Nsec: int64(st.Mtim.Nsec), Size: int64(st.Size)}
}

func fileStamp(f *os.File) (Stamp, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return Stamp{}, err
	}
	return stampOf(&st), nil
}

func pathStamp(path string) (Stamp, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return Stamp{}, err
	}
	return stampOf(&st), nil
}

// StampOf returns the current stamp of the file at path.
func StampOf(path string) (Stamp, error) { return pathStamp(path) }

func openExcl(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
}
