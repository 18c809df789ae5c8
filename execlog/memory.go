package execlog

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MemoryStore keeps the most recent records in memory: the default when no database is
// configured, so the read endpoints work with nothing but Docker.
type MemoryStore struct {
	mu   sync.Mutex
	max  int
	recs []Record        // in insertion order, oldest first
	ids  map[string]bool // jobIds in recs
}

// NewMemoryStore keeps at most max records; older ones are forgotten.
func NewMemoryStore(max int) *MemoryStore {
	if max < 1 {
		max = 1
	}
	return &MemoryStore{max: max, ids: map[string]bool{}}
}

// Insert adds records it does not have yet, forgetting the oldest past the maximum.
func (m *MemoryStore) Insert(_ context.Context, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if m.ids[r.JobID] {
			continue
		}
		m.ids[r.JobID] = true
		m.recs = append(m.recs, r)
	}
	if over := len(m.recs) - m.max; over > 0 {
		for _, r := range m.recs[:over] {
			delete(m.ids, r.JobID)
		}
		// Copy so the dropped records' memory is released.
		m.recs = append([]Record(nil), m.recs[over:]...)
	}
	return nil
}

// Get finds one record.
func (m *MemoryStore) Get(_ context.Context, jobID string) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.recs) - 1; i >= 0; i-- {
		if m.recs[i].JobID == jobID {
			r := m.recs[i]
			return &r, nil
		}
	}
	return nil, ErrNotFound
}

// newestFirst returns matching records, most recent first.
func (m *MemoryStore) newestFirst(match func(*Record) bool, limit int) []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for i := range m.recs {
		if match(&m.recs[i]) {
			out = append(out, m.recs[i])
		}
	}
	// Insertion order is nearly creation order; sort so that both stores answer alike.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// List returns matching records, most recent first.
func (m *MemoryStore) List(_ context.Context, q Query) ([]Record, error) {
	return m.newestFirst(q.match, q.Limit), nil
}

// Sample returns the most recent records.
func (m *MemoryStore) Sample(_ context.Context, limit int) ([]Record, error) {
	return m.newestFirst(func(*Record) bool { return true }, limit), nil
}

// DeleteBefore forgets records created before t.
func (m *MemoryStore) DeleteBefore(_ context.Context, t time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.recs[:0]
	var n int64
	for _, r := range m.recs {
		if r.Created.Before(t) {
			delete(m.ids, r.JobID)
			n++
			continue
		}
		kept = append(kept, r)
	}
	clear(m.recs[len(kept):])
	m.recs = kept
	return n, nil
}

// Close does nothing.
func (m *MemoryStore) Close(context.Context) error { return nil }
