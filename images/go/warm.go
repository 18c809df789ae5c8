package main

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

var _ = []any{bufio.NewReader, bytes.NewBuffer, heap.Init, json.Marshal, errors.New, io.EOF,
	math.Abs, big.NewInt, rand.Int, sort.Ints, strconv.Itoa, strings.Fields, sync.Mutex{}, time.Now, unicode.IsDigit}

func main() { fmt.Fprintln(os.Stdout, "warm") }
