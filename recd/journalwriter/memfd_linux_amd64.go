package journalwriter

const sysMemfdCreate = 319
