complete -c mlxk-vision -s p -l prompt -d 'Prompt for each chunk (the image lines come before it)' -r
complete -c mlxk-vision -s s -l system -d 'System prompt' -r
complete -c mlxk-vision -l chunk -d 'Images per model session (numbered 1..N within it)' -r
complete -c mlxk-vision -l max-pixels -d 'Largest decoded image in pixels; larger photos are reduced while decoding (JPEG by its DCT: memory stays bounded)' -r
complete -c mlxk-vision -s n -l max-tokens -d 'Most tokens to generate per request (0: none, only the prompt is read)' -r
complete -c mlxk-vision -s t -l temperature -d 'Sampling temperature, ≥ 0; 0 is greedy (mlx-lm\'s default)' -r
complete -c mlxk-vision -l top-p -d 'Nucleus sampling: keep the smallest set of tokens whose probability reaches P (0 to 1)' -r
complete -c mlxk-vision -l top-k -d 'Keep only the K most likely tokens (0: all)' -r
complete -c mlxk-vision -l min-p -d 'Drop tokens less likely than P times the most likely one (0 to 1)' -r
complete -c mlxk-vision -l repetition-penalty -d 'Penalize tokens seen recently (≥ 0; 1.0: off)' -r
complete -c mlxk-vision -l seed -d 'Random seed, for reproducible sampling' -r
complete -c mlxk-vision -l cache-dir -d 'Cache directory to read instead of the environment\'s' -r -F
complete -c mlxk-vision -l generate -d 'Print the man page or a shell completion script' -r -f -a "man\t''
bash\t''
zsh\t''
fish\t''"
complete -c mlxk-vision -l metadata-only -d 'No model: print each image\'s metadata (one `image` line with --json, a table row otherwise)'
complete -c mlxk-vision -l check -d 'No model: decode each image as the model would get it (orientation applied, reduced to --max-pixels) and report its size, to find the files a long run would stumble on'
complete -c mlxk-vision -l no-location -d 'Keep the GPS position out of the prompt and the output'
complete -c mlxk-vision -l no-metadata -d 'Keep GPS, date, camera and lens out of the output, and the image lines out of the prompt: the model sees the prompt and the images alone'
complete -c mlxk-vision -l json -d 'Emit NDJSON: `image` lines (--metadata-only, --check) or `chunk` lines, errors, then a summary'
complete -c mlxk-vision -l force -d 'Load even when the memory gate says the model will not fit'
complete -c mlxk-vision -s v -l verbose -d 'Print speed and peak memory on stderr'
complete -c mlxk-vision -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mlxk-vision -s V -l version -d 'Print version'
