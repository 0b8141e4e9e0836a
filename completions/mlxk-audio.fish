complete -c mlxk-audio -s m -l model -d 'Whisper model: org/name, a unique part of it, name@hash, or a directory. Default: the only Whisper model in the cache' -r
complete -c mlxk-audio -s f -l format -d 'Write each transcript as FORMAT into --output-dir (`-o -`: to stdout)' -r -f -a "txt\t''
srt\t''
vtt\t''
tsv\t''
json\t''"
complete -c mlxk-audio -s o -l output-dir -d 'Where --format writes `<name>.<format>` (default: the current directory)' -r -F
complete -c mlxk-audio -s l -l language -d 'Language of the speech (code or name: de, German); detected when not given' -r
complete -c mlxk-audio -l task -d '`transcribe` (same language) or `translate` (into English; multilingual models)' -r -f -a "transcribe\t''
translate\t''"
complete -c mlxk-audio -s t -l temperature -d 'Sampling temperature(s), comma separated: a single value turns the fallback off (default: 0,0.2,0.4,0.6,0.8,1.0, tried in order)' -r
complete -c mlxk-audio -l initial-prompt -d 'Text to condition the first window on (names, vocabulary, style)' -r
complete -c mlxk-audio -l compression-ratio-threshold -d 'Fall back to a higher temperature above this gzip compression ratio' -r
complete -c mlxk-audio -l logprob-threshold -d 'Fall back to a higher temperature below this average log-probability' -r
complete -c mlxk-audio -l no-speech-threshold -d 'Treat a window as silent above this no-speech probability (with a low log-probability)' -r
complete -c mlxk-audio -l vad-threshold -d 'Sound level (dBFS) a 20 ms frame needs to count for the voice-activity gate' -r
complete -c mlxk-audio -l prepend-punctuations -d 'With --word-timestamps: punctuation joined to the word after it' -r
complete -c mlxk-audio -l append-punctuations -d 'With --word-timestamps: punctuation joined to the word before it' -r
complete -c mlxk-audio -l max-line-width -d 'srt/vtt with --word-timestamps: most characters in a line before it breaks' -r
complete -c mlxk-audio -l max-line-count -d 'srt/vtt with --word-timestamps and --max-line-width: most lines in a cue' -r
complete -c mlxk-audio -l max-words-per-line -d 'srt/vtt with --word-timestamps: most words in a cue (no effect with --max-line-width)' -r
complete -c mlxk-audio -l seed -d 'Random seed for sampling at temperatures above 0' -r
complete -c mlxk-audio -l cache-dir -d 'Cache directory to read instead of the environment\'s' -r -F
complete -c mlxk-audio -l generate -d 'Print the man page or a shell completion script' -r -f -a "man\t''
bash\t''
zsh\t''
fish\t''"
complete -c mlxk-audio -l json -d 'Emit NDJSON: `segment` lines as they are decoded, a `transcript` per file, then a summary'
complete -c mlxk-audio -l overwrite -d 'Replace output files that already exist'
complete -c mlxk-audio -l no-condition -d 'Do not feed each window\'s text to the next (less consistent, less prone to loops)'
complete -c mlxk-audio -l no-vad -d 'Decode every window, silent or not (no voice-activity gate)'
complete -c mlxk-audio -l word-timestamps -d 'Time every word (cross-attention alignment, as mlx-whisper): `words` on each --json segment, word-level cues in srt and vtt; segment times follow the words'
complete -c mlxk-audio -l highlight-words -d 'srt/vtt with --word-timestamps: underline each word as it is spoken'
complete -c mlxk-audio -l force -d 'Load even when the memory gate says the model will not fit'
complete -c mlxk-audio -s v -l verbose -d 'Print segments with times, the real-time factor and peak memory on stderr'
complete -c mlxk-audio -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mlxk-audio -s V -l version -d 'Print version'
