using OpenHgs.Cli;

return await HgsCommandLine.RunAsync(args).ConfigureAwait(false);
