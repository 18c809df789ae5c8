with Ada.Text_IO;

procedure Main is
begin
   Ada.Text_IO.Put_Line (Ada.Text_IO.Get_Line);
end Main;
