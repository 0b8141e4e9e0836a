complete -c mlxk-run -s p -l prompt -d 'Prompt; standard input, if any, is context placed before it' -r
complete -c mlxk-run -s s -l system -d 'System prompt' -r
complete -c mlxk-run -s n -l max-tokens -d 'Most tokens to generate per request (0: none, only the prompt is read)' -r
complete -c mlxk-run -s t -l temperature -d 'Sampling temperature, ≥ 0; 0 is greedy (mlx-lm\'s default)' -r
complete -c mlxk-run -l top-p -d 'Nucleus sampling: keep the smallest set of tokens whose probability reaches P (0 to 1)' -r
complete -c mlxk-run -l top-k -d 'Keep only the K most likely tokens (0: all)' -r
complete -c mlxk-run -l min-p -d 'Drop tokens less likely than P times the most likely one (0 to 1)' -r
complete -c mlxk-run -l repetition-penalty -d 'Penalize tokens seen recently (≥ 0; 1.0: off)' -r
complete -c mlxk-run -l seed -d 'Random seed, for reproducible sampling' -r
complete -c mlxk-run -l cache-dir -d 'Cache directory to read instead of the environment\'s' -r -F
complete -c mlxk-run -l generate -d 'Print the man page or a shell completion script' -r -f -a "man\t''
bash\t''
zsh\t''
fish\t''"
complete -c mlxk-run -l json -d 'Emit NDJSON: deltas as they come, a result per request, then a summary'
complete -c mlxk-run -l no-chat-template -d 'Send the prompt as is, without the model\'s chat template'
complete -c mlxk-run -l force -d 'Load even when the memory gate says the model will not fit'
complete -c mlxk-run -s v -l verbose -d 'Print prompt and generation speed and peak memory on stderr'
complete -c mlxk-run -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mlxk-run -s V -l version -d 'Print version'
