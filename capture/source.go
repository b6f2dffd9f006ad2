package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Source hands out captured frames one at a time.
type Source interface {
	// Next fills p with the next frame. It returns io.EOF at a clean end.
	// p.Data is valid until the next call to Next.
	Next(p *Packet) error
	Close() error
}

// FileConfig configures OpenFiles.
type FileConfig struct {
	// ReadBufferKB is the size of the buffered reader under each file (and
	// under the gzip stream when the file is compressed). 64 KiB, not more:
	// a read(2) that outlasts one tick of the Go runtime's sysmon (20 µs)
	// has its P taken away and handed back, and on one CPU every such
	// retake also keeps sysmon waking every 20 µs. With 256 KiB reads and
	// writes the one-core run to calls.jsonl on the bench capture made
	// ~3,500 context switches; with 64 KiB ~1,200 (perf stat -r 8, mean
	// task-clock 593 -> 536 ms, noisy machine).
	ReadBufferKB int
	// Stdin is read when a path is "-". Nil means os.Stdin; tests set it.
	Stdin io.Reader
}

// DefaultFileConfig returns the configuration the CLI uses.
func DefaultFileConfig() FileConfig {
	return FileConfig{ReadBufferKB: 64}
}

// Validate reports a configuration that cannot work.
func (c FileConfig) Validate() error {
	if c.ReadBufferKB < 4 || c.ReadBufferKB > 64*1024 {
		return fmt.Errorf("capture: ReadBufferKB %d out of range [4, 65536]", c.ReadBufferKB)
	}
	return nil
}

// FileError is a failure reading one capture file. It names the file and,
// for record errors, the byte offset of the record (in the uncompressed
// stream for gzip files) and how many packets of the whole input were
// returned before it.
type FileError struct {
	Path   string
	Offset int64  // byte offset of the failing record; -1 when the file could not be opened or its header read
	Packet uint64 // global index of the last good packet before the error (0 = none)
	Err    error
	// Truncated is set when the file ends inside a record: the typical
	// result of killing tcpdump. Every packet before it was returned.
	Truncated bool
}

func (e *FileError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("read %s: %v", e.Path, e.Err)
	}
	what := "corrupt packet record"
	if e.Truncated {
		what = "truncated packet record"
	}
	return fmt.Sprintf("read %s: %s at offset %d (after packet %d): %v", e.Path, what, e.Offset, e.Packet, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// packetReader is what pcapReader and pcapgo's NgReader offer.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// countingReader counts the bytes its reader produced, so that the consumed
// position is count minus what the bufio.Reader above still holds.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// FileSource reads pcap and pcapng files (optionally gzip-compressed) one
// after another. It implements Source. Not safe for concurrent use.
type FileSource struct {
	cfg   FileConfig
	paths []string
	next  int // index into paths of the file to open next

	// current file
	path     string
	closer   io.Closer
	raw      *countingReader // bytes of the file as stored
	plain    *countingReader // bytes the packet reader sees (== raw when not gzip)
	br       *bufio.Reader   // directly under the packet reader
	rd       packetReader
	linkType uint16

	index     uint64
	doneBytes int64 // bytes of files already finished
	total     int64
	err       error // sticky
}

// OpenFiles opens the first of paths and returns a source that reads all
// of them in order. "-" means standard input. Sizes of the regular files are
// summed for Progress; a path that is not a regular file makes the total 0.
func OpenFiles(paths []string, cfg FileConfig) (*FileSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("capture: no input files")
	}
	s := &FileSource{cfg: cfg, paths: paths}
	for _, p := range paths {
		if p == "-" {
			s.total = 0 // unknown
			break
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, &FileError{Path: p, Offset: -1, Err: err}
		}
		if !st.Mode().IsRegular() {
			s.total = 0 // unknown
			break
		}
		s.total += st.Size()
	}
	if err := s.openNext(); err != nil {
		return nil, err
	}
	return s, nil
}

// Progress reports bytes read so far (of the files as stored, so compressed
// bytes for gzip) and the total, 0 when unknown (stdin, pipes).
func (s *FileSource) Progress() (done, total int64) {
	done = s.doneBytes
	if s.raw != nil {
		done += s.raw.n
	}
	return done, s.total
}

// openNext opens paths[s.next]. It leaves s.rd nil when all are done.
func (s *FileSource) openNext() error {
	s.closeCurrent()
	if s.next >= len(s.paths) {
		return nil
	}
	path := s.paths[s.next]
	s.next++
	s.path = path
	var r io.Reader
	if path == "-" {
		r = s.cfg.Stdin
		if r == nil {
			r = os.Stdin
		}
		s.path = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return &FileError{Path: path, Offset: -1, Err: err}
		}
		s.closer = f
		r = f
	}
	size := s.cfg.ReadBufferKB * 1024
	s.raw = &countingReader{r: r}
	s.plain = s.raw
	s.br = bufio.NewReaderSize(s.raw, size)
	magic, err := peekMagic(s.br)
	if err != nil {
		return &FileError{Path: s.path, Offset: -1, Err: fmt.Errorf("read file header: %w", err)}
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		// Decompress here, under the packet reader, so that the offsets
		// in errors refer to a stream we can count.
		zr, err := gzip.NewReader(s.br)
		if err != nil {
			return &FileError{Path: s.path, Offset: -1, Err: fmt.Errorf("gzip header: %w", err)}
		}
		s.plain = &countingReader{r: zr}
		s.br = bufio.NewReaderSize(s.plain, size)
		if magic, err = peekMagic(s.br); err != nil {
			return &FileError{Path: s.path, Offset: -1, Err: fmt.Errorf("read file header (gzip): %w", err)}
		}
	}
	m := binary.LittleEndian.Uint32(magic)
	switch m {
	case 0x0A0D0D0A:
		ng, err := pcapgo.NewNgReader(s.br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return &FileError{Path: s.path, Offset: -1, Err: fmt.Errorf("pcapng header: %w", err)}
		}
		s.rd = ng
	case 0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1:
		pr, err := newPcapReader(s.br)
		if err != nil {
			return &FileError{Path: s.path, Offset: -1, Err: fmt.Errorf("pcap header: %w", err)}
		}
		s.linkType = pr.linkType
		s.rd = pr
	default:
		return &FileError{Path: s.path, Offset: -1, Err: fmt.Errorf("not a pcap or pcapng file (magic %08x)", m)}
	}
	return nil
}

// peekMagic returns the first 4 bytes of a file (or of its decompressed
// content) without consuming them; a shorter input is "empty file" or
// io.ErrUnexpectedEOF.
func peekMagic(br *bufio.Reader) ([]byte, error) {
	magic, err := br.Peek(4)
	if err == io.EOF {
		if len(magic) == 0 {
			return nil, errors.New("empty file")
		}
		return nil, io.ErrUnexpectedEOF
	}
	return magic, err
}

func (s *FileSource) closeCurrent() {
	if s.raw != nil {
		s.doneBytes += s.raw.n
	}
	if s.closer != nil {
		s.closer.Close()
	}
	s.closer, s.raw, s.plain, s.br, s.rd = nil, nil, nil, nil, nil
}

// pos is the offset in the (uncompressed) file of the next byte the
// packet reader will read.
func (s *FileSource) pos() int64 { return s.plain.n - int64(s.br.Buffered()) }

// Next implements Source. After an error every later call returns the same
// error.
func (s *FileSource) Next(p *Packet) error {
	if s.err != nil {
		return s.err
	}
	for s.rd != nil {
		start := s.pos()
		data, ci, err := s.rd.ZeroCopyReadPacketData()
		if err == nil {
			s.index++
			p.Data = data
			p.TS = ci.Timestamp
			p.OrigLen = ci.Length
			p.Index = s.index
			p.LinkType = s.linkType
			if len(ci.AncillaryData) > 0 { // pcapng: the interface's link type
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					p.LinkType = uint16(lt)
				}
			}
			return nil
		}
		// Both readers say io.EOF only at a clean end between records or
		// blocks (a cut one is io.ErrUnexpectedEOF). The pcapng reader may
		// have read blocks after the last packet first (dumpcap ends its
		// files with interface statistics): still a clean end.
		if err == io.EOF {
			if err := s.openNext(); err != nil {
				s.err = err
				return err
			}
			continue
		}
		fe := &FileError{Path: s.path, Offset: start, Packet: s.index, Err: err}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			fe.Err = io.ErrUnexpectedEOF
			fe.Truncated = true
		}
		s.err = fe
		return fe
	}
	s.err = io.EOF
	return io.EOF
}

// Close releases the open file.
func (s *FileSource) Close() error {
	s.closeCurrent()
	if s.err == nil {
		s.err = errors.New("capture: source closed")
	}
	return nil
}

// compile-time check
var _ Source = (*FileSource)(nil)
