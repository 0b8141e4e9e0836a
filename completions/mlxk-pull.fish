complete -c mlxk-pull -s r -l revision -d 'Branch, tag or commit for names that give none' -r
complete -c mlxk-pull -l include -d 'Only files matching GLOB (repeatable; replaces the MLX default set of weights, configs, tokenizer, processor and template files, README)' -r
complete -c mlxk-pull -l exclude -d 'Leave out files matching GLOB (repeatable)' -r
complete -c mlxk-pull -l from -d 'Import the folder DIR (a model converted or trained locally) as the one repository named, instead of downloading: written the way a pull writes (blobs by sha256 or git sha1, snapshot links, trees json, refs last)' -r -F
complete -c mlxk-pull -l timeout -d 'Seconds without data before a connection counts as stalled (also the connect timeout)' -r
complete -c mlxk-pull -l deadline -d 'Give up after SECS in all (retries, waits and transfers included); what was downloaded is kept and resumes next time' -r
complete -c mlxk-pull -l retries -d 'Retries of a failed request or file, with exponential backoff' -r
complete -c mlxk-pull -l jobs -d 'Files downloaded at once' -r
complete -c mlxk-pull -l generate -d 'Print the man page or a shell completion script' -r -f -a "man\t''
bash\t''
zsh\t''
fish\t''"
complete -c mlxk-pull -l all -d 'Every file of the repository, as `hf download` takes'
complete -c mlxk-pull -l json -d 'Print NDJSON: progress lines, a result per repository, then a summary'
complete -c mlxk-pull -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mlxk-pull -s V -l version -d 'Print version'
