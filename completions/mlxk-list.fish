complete -c mlxk-list -l show -d 'Show one model in depth (org/name, a unique part of it, name@hash, or a directory)' -r
complete -c mlxk-list -l cache-dir -d 'Cache directory to read instead of the environment\'s' -r -F
complete -c mlxk-list -l generate -d 'Print the man page or a shell completion script' -r -f -a "man\t''
bash\t''
zsh\t''
fish\t''"
complete -c mlxk-list -l json -d 'Print NDJSON: one model object per line, then a summary line'
complete -c mlxk-list -l health -d 'Show the health verdict and its reason; exit 1 if any model is unhealthy'
complete -c mlxk-list -l check -d 'For cron: print only unhealthy models; exit 1 if there are any, else print nothing'
complete -c mlxk-list -l files -d 'With --show (or --json): list the snapshot\'s files'
complete -c mlxk-list -l config -d 'With --show (or --json): include config.json'
complete -c mlxk-list -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mlxk-list -s V -l version -d 'Print version'
