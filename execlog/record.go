// Package execlog is the execution log: executions whose request says "saveMetric": true are
// stored, through a bounded asynchronous writer, in MongoDB (or anything speaking its wire
// protocol, such as FerretDB) or, with no database configured, in memory. A slow or absent
// database never slows an execution: records wait in the buffer and are retried; only when the
// buffer is full are they dropped, and every drop is counted and logged.
package execlog

import (
	"context"
	"errors"
	"math"
	"sort"
	"time"
	"unicode/utf8"
)

// Record is one stored execution. The first fields keep the seed service's names and meanings
// (runner.Result.Summary, which the native API answers with too); no client address or other
// personal data is stored.
type Record struct {
	JobID         string  `bson:"jobId" json:"jobId"`
	UserID        string  `bson:"userId" json:"userId"`       // always "anonymous"
	ProjectID     string  `bson:"projectId" json:"projectId"` // always "default"
	Language      string  `bson:"language" json:"language"`
	Version       string  `bson:"version" json:"version"`
	Code          string  `bson:"code" json:"code"` // the entry file
	Files         []File  `bson:"files,omitempty" json:"files,omitempty"`
	Output        string  `bson:"output" json:"output"`
	ErrorMessage  string  `bson:"errorMessage" json:"errorMessage"`
	ExecutionTime float64 `bson:"executionTime" json:"executionTime"` // seconds
	MemoryUsage   string  `bson:"memoryUsage" json:"memoryUsage"`     // "7.4MB"
	CPUUsage      string  `bson:"cpuUsage" json:"cpuUsage"`           // "87.4%"
	RunTimeStatus string  `bson:"runTimeStatus" json:"runTimeStatus"` // "succeeded" or "Error"

	Status        string  `bson:"status" json:"status"` // ok, compile_error, runtime_error, ...
	ExitCode      int     `bson:"exitCode" json:"exitCode"`
	WallTimeMs    float64 `bson:"wallTimeMs" json:"wallTimeMs"`
	CPUTimeMs     float64 `bson:"cpuTimeMs" json:"cpuTimeMs"`
	MemoryBytes   int64   `bson:"memoryBytes" json:"memoryBytes"`
	CompileTimeMs float64 `bson:"compileTimeMs,omitempty" json:"compileTimeMs,omitempty"`
	// Interactive marks a live session's run; Typed is the stdin its user typed while it ran.
	Interactive bool   `bson:"interactive,omitempty" json:"interactive,omitempty"`
	Typed       string `bson:"typed,omitempty" json:"typed,omitempty"`
	// Truncated says code, a file or the output was cut to the configured maxTextBytes.
	Truncated bool      `bson:"truncated" json:"truncated"`
	Created   time.Time `bson:"created" json:"created"`
}

// File is one submitted file of a multi-file (v2) request.
type File struct {
	Filename string `bson:"filename" json:"filename"`
	Code     string `bson:"code" json:"code"`
}

// Succeeded reports whether the execution counts as a success in the stats.
func (r *Record) Succeeded() bool { return r.RunTimeStatus == "succeeded" }

// cut shortens the text fields to max bytes each (never inside a UTF-8 sequence), so one record
// stays far below MongoDB's 16 MiB document limit and the buffer's memory stays bounded.
func (r *Record) cut(max int) {
	if max <= 0 {
		return
	}
	c := func(s *string) {
		if len(*s) <= max {
			return
		}
		n := max
		for n > 0 && !utf8.RuneStart((*s)[n]) {
			n--
		}
		*s = (*s)[:n]
		r.Truncated = true
	}
	c(&r.Code)
	c(&r.Output)
	c(&r.ErrorMessage)
	c(&r.Typed)
	for i := range r.Files {
		c(&r.Files[i].Code)
	}
}

// Query selects records for GET /api/v1/executions.
type Query struct {
	Language string // "" for any
	Status   string // "" for any
	Limit    int
}

func (q *Query) match(r *Record) bool {
	return (q.Language == "" || r.Language == q.Language) && (q.Status == "" || r.Status == q.Status)
}

// ErrNotFound is returned by Get for a jobId that is not stored.
var ErrNotFound = errors.New("no such execution in the log")

// ErrUnavailable wraps errors of a database that does not answer.
var ErrUnavailable = errors.New("the execution log database is unavailable; try again later")

// Store keeps records. Insert must be idempotent on JobID: the writer retries a batch whose
// outcome it does not know, and a record already stored must not be stored twice.
type Store interface {
	Insert(ctx context.Context, recs []Record) error
	Get(ctx context.Context, jobID string) (*Record, error)
	// List returns matching records, most recent first.
	List(ctx context.Context, q Query) ([]Record, error)
	// Sample returns the most recent limit records with at least the fields Stats reads.
	Sample(ctx context.Context, limit int) ([]Record, error)
	// DeleteBefore removes records created before t and says how many.
	DeleteBefore(ctx context.Context, t time.Time) (int64, error)
	Close(ctx context.Context) error
}

// LanguageStats are one language's numbers in GET /api/v1/stats.
type LanguageStats struct {
	Language    string  `json:"language"`
	Count       int     `json:"count"`
	Succeeded   int     `json:"succeeded"`
	SuccessRate float64 `json:"successRate"` // succeeded / count, 0..1
	// Timed counts the executions that ran (compile errors did not); the times are over them,
	// in seconds like executionTime.
	Timed            int     `json:"timed"`
	AvgExecutionTime float64 `json:"avgExecutionTime"`
	P95ExecutionTime float64 `json:"p95ExecutionTime"`
}

// Stats is the answer of GET /api/v1/stats.
type Stats struct {
	// Records is how many records were read; Complete is false when there were more than the
	// configured statsMaxRecords and only the most recent were read.
	Records   int             `json:"records"`
	Complete  bool            `json:"complete"`
	Since     *time.Time      `json:"since,omitempty"` // the oldest record read
	Languages []LanguageStats `json:"languages"`
}

// ComputeStats computes the per-language numbers in Go: FerretDB's $group lacks $avg, $min and
// $max, and a percentile is not an aggregation stage on either, so the store only reads.
func ComputeStats(recs []Record, complete bool) *Stats {
	st := &Stats{Records: len(recs), Complete: complete, Languages: []LanguageStats{}}
	byLang := map[string][]*Record{}
	for i := range recs {
		r := &recs[i]
		byLang[r.Language] = append(byLang[r.Language], r)
		if st.Since == nil || r.Created.Before(*st.Since) {
			t := r.Created
			st.Since = &t
		}
	}
	for lang, rs := range byLang {
		ls := LanguageStats{Language: lang, Count: len(rs)}
		var times []float64
		sum := 0.0
		for _, r := range rs {
			if r.Succeeded() {
				ls.Succeeded++
			}
			if r.Status != "compile_error" {
				times = append(times, r.ExecutionTime)
				sum += r.ExecutionTime
			}
		}
		ls.SuccessRate = round(float64(ls.Succeeded)/float64(ls.Count), 4)
		ls.Timed = len(times)
		if len(times) > 0 {
			sort.Float64s(times)
			ls.AvgExecutionTime = round(sum/float64(len(times)), 4) // a tenth of a millisecond
			ls.P95ExecutionTime = percentile(times, 95)
		}
		st.Languages = append(st.Languages, ls)
	}
	sort.Slice(st.Languages, func(i, j int) bool { return st.Languages[i].Language < st.Languages[j].Language })
	return st
}

// percentile is the nearest-rank percentile of sorted values: the smallest value with at least
// p% of the values at or below it.
func percentile(sorted []float64, p int) float64 {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func round(v float64, digits int) float64 {
	m := math.Pow10(digits)
	return math.Round(v*m) / m
}
