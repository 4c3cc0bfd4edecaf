package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// runJSON is how both engines store a SourceRun.
type runJSON struct {
	StartedAt  time.Time         `json:"started_at"`
	Duration   time.Duration     `json:"duration_ns"`
	Err        string            `json:"error,omitempty"`
	Operation  int64             `json:"operation,omitempty"`
	Validators map[string]string `json:"validators,omitempty"`
}

// EncodeRun checks a run for RecordRun and encodes it as both engines
// store it.
func EncodeRun(run *SourceRun) ([]byte, error) {
	if run == nil || run.Source == "" {
		return nil, errors.New("record run: no source")
	}
	if run.StartedAt.IsZero() {
		return nil, fmt.Errorf("record run of %s: no start time", run.Source)
	}
	data, err := json.Marshal(runJSON{
		StartedAt: run.StartedAt.UTC(), Duration: run.Duration, Err: run.Err,
		Operation: run.Operation, Validators: run.Validators,
	})
	if err != nil {
		return nil, fmt.Errorf("record run of %s: %w", run.Source, err)
	}
	return data, nil
}

// DecodeRun decodes a run of source stored by EncodeRun.
func DecodeRun(source string, data []byte) (*SourceRun, error) {
	var r runJSON
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("source %s: decode stored run: %w", source, err)
	}
	return &SourceRun{
		Source: source, StartedAt: r.StartedAt, Duration: r.Duration, Err: r.Err,
		Operation: r.Operation, Validators: r.Validators,
	}, nil
}
