complete -c mlxk-push -l branch -d 'Branch to commit to (created from the default branch when missing)' -r
complete -c mlxk-push -s m -l message -l commit -d 'Commit message' -r
complete -c mlxk-push -l include -d 'Only files matching GLOB (repeatable; default: every file, less .hfignore, .git/ and .cache/huggingface/)' -r
complete -c mlxk-push -l exclude -d 'Leave out files matching GLOB (repeatable)' -r
complete -c mlxk-push -l timeout -d 'Seconds without progress before a transfer counts as stalled (also the connect timeout)' -r
complete -c mlxk-push -l deadline -d 'Give up after SECS in all (retries, waits and transfers included); nothing is committed, and a re-run sends only what the server lacks' -r
complete -c mlxk-push -l retries -d 'Retries of a failed request or part, with exponential backoff' -r
complete -c mlxk-push -l jobs -d 'LFS files uploaded at once' -r
complete -c mlxk-push -l generate -d 'Print the man page or a shell completion script' -r -f -a "man\t''
bash\t''
zsh\t''
fish\t''"
complete -c mlxk-push -l create -d 'Create the repository when it does not exist (needs --private or --public)'
complete -c mlxk-push -l private -d 'A repository created by this push is private'
complete -c mlxk-push -l public -d 'A repository created by this push is public'
complete -c mlxk-push -l check-only -d 'Only check the workspace\'s health; no network'
complete -c mlxk-push -l dry-run -d 'Compare with the remote (read-only) and report what a push would add, change, delete and leave'
complete -c mlxk-push -l delete -d 'Delete remote files that are not in the folder (.gitattributes is kept)'
complete -c mlxk-push -l force -d 'Push even though the workspace is unhealthy'
complete -c mlxk-push -l follow-links -d 'Follow symbolic links that lead to files inside the folder (never one that leads outside it; links to folders are never walked). Without it, links are skipped and listed'
complete -c mlxk-push -l json -d 'Print NDJSON: progress lines, the result, then a summary'
complete -c mlxk-push -s v -l verbose -d 'Print every file of the plan on stderr'
complete -c mlxk-push -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mlxk-push -s V -l version -d 'Print version'
