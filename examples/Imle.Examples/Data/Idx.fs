/// IDX file loader (MNIST / Fashion-MNIST format).
module Imle.Examples.Data.Idx

let internal pending = ()
