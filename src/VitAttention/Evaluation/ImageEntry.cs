namespace VitAttention.Evaluation;

/// <summary>An image file of a data set and its key: the path relative to the folder or list it came from, '/' separated.</summary>
/// <param name="Path">Where the file is.</param>
/// <param name="Key">Its name in results and for sharding.</param>
internal sealed record ImageEntry(string Path, string Key);
